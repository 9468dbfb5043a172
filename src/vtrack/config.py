"""Configuration of a run: pydantic v2 models, loaded from YAML, unknown keys rejected.

Everything a ``vtrack run`` flag says can be said in a config file; flags given on the command
line override the file. ``vtrack validate-config FILE`` reports each error with its path and, where
it can be found, the YAML line.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from vtrack.errors import ConfigError
from vtrack.geometry import Anchor, LineSpec, Polygon, parse_line_spec, parse_zone_spec
from vtrack.redact import redact_url

if TYPE_CHECKING:
    from vtrack.stream.policy import SourceRules

DEFAULT_MODEL = "yolov8n.onnx"


def _require_unique(names: list[str], what: str) -> None:
    """Raise ``ValueError("<what> must be unique, repeated: a, b")`` when a name occurs twice."""
    dupes = sorted(n for n, k in Counter(names).items() if k > 1)
    if dupes:
        raise ValueError(f"{what} must be unique, repeated: {', '.join(dupes)}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(_Strict):
    """The detector: an Ultralytics YOLO ONNX export run by OpenVINO (CPU) or ONNX Runtime.

    ``model: yolov8n.onnx`` (a string) is read as ``model: {path: yolov8n.onnx}``.
    """

    @model_validator(mode="before")
    @classmethod
    def _path_only(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data

    path: str = Field(
        DEFAULT_MODEL,
        description="An .onnx file, a .pt checkpoint (exported once and cached) or an official name "
        "such as yolo11n (fetched where a network exists).",
    )
    imgsz: int | None = Field(
        None, gt=0, le=4096, description="Inference size in pixels; default: the model's own."
    )
    conf: float = Field(0.25, ge=0.0, le=1.0, description="Minimum detection confidence.")
    iou: float = Field(0.7, gt=0.0, le=1.0, description="IoU threshold of non-maximum suppression.")
    backend: Literal["auto", "onnxruntime", "openvino"] = Field(
        "auto",
        description="Runtime of the model. `auto`: OpenVINO on a CPU when it is installed (it reads the same "
        ".onnx; 2-2.5x ONNX Runtime's speed at bf16), ONNX Runtime on a GPU (CUDA/TensorRT) or when "
        "`providers` are set.",
    )
    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        "auto",
        description="Inference precision. `auto`: OpenVINO runs bf16 where the CPU has native bf16 (AMX or "
        "AVX512-BF16), else fp32, and int8 for an int8 model; ONNX Runtime runs fp32 (fp16 TensorRT engines "
        "with `half`). `int8` needs `vtrack export MODEL.onnx --int8 --calib VIDEO` first (OpenVINO).",
    )
    providers: list[str] | None = Field(
        None,
        description="ONNX Runtime execution providers in order of preference; default: TensorRT, "
        "CUDA, CPU, whichever are available.",
    )
    threads: int | None = Field(
        None,
        gt=0,
        le=256,
        description="Threads per inference (ONNX Runtime intra-op threads per session, OpenVINO threads "
        "per stream); default: the CPU cores divided among the sessions on CPU, ONNX Runtime's choice on "
        "a GPU. `vtrack serve` with one stream: all cores for one inference at a time.",
    )
    sessions: int | None = Field(
        None,
        gt=0,
        le=64,
        description="Inferences running frames in parallel (ONNX Runtime sessions, OpenVINO streams; "
        "frame-level parallelism in `run`/`batch`, parallel streams in `serve`); default: 2 on a CPU "
        "with 2 or more cores (two 1-thread sessions beat one 2-thread session on 2 cores), 1 on a GPU "
        "and in `vtrack serve` with one stream.",
    )
    half: bool = Field(
        False,
        description="Half precision: TensorRT builds FP16 engines (`trt_fp16_enable`) when it runs the "
        "model; other providers run the model in its own precision (export with `half` for an FP16 model).",
    )
    batch: int = Field(
        1,
        ge=1,
        le=64,
        description="`vtrack serve`: most frames of different streams run in one inference. Above 1 needs "
        "a model with a dynamic batch axis (`vtrack export --dynamic`); with a fixed-batch model a "
        "warning is logged and each stream runs its own frames. Pays off on a GPU.",
    )
    batch_wait_ms: float = Field(
        5.0,
        ge=0.0,
        le=1000.0,
        description="`vtrack serve` with batch > 1: longest the first frame of a batch waits for frames of "
        "other streams, in milliseconds (a batch also runs as soon as every stream has a frame waiting).",
    )


class TrackerConfig(_Strict):
    """The multi-object tracker."""

    type: Literal["bytetrack", "botsort", "ocsort", "auto"] = Field(
        "bytetrack",
        description="Tracking algorithm. `auto` measures the global camera motion over the first frames "
        "and uses BoT-SORT with camera-motion compensation when the camera moves, ByteTrack when it is "
        "fixed (tracks get their first ID after those ~8 frames).",
    )
    lost_track_seconds: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        description="How long a lost track is kept for re-identification, in seconds of video "
        "(converted to frames with the effective frame rate, after --stride).",
    )
    per_class: bool = Field(True, description="Never associate detections of different classes.")
    carry: Literal["flow", "off"] = Field(
        "flow",
        description="What moves the tracks on frames the detector skips (`--stride`, or a live camera "
        "faster than the box can detect): `flow` carries the boxes by sparse optical flow, so tracking "
        "and counting see every frame and counts hold at any detector rate (a few ms per frame); `off` "
        "leaves those frames out (a live stream then processes only its newest frame).",
    )
    lead_origins: bool = Field(
        True,
        description="ByteTrack: a track first detected after frames the detector skipped starts, for "
        "counting, where its first motion says it was when the detector last looked (less one frame), "
        "so a fast object first seen just past a line still counts at a low detector rate. Turn off "
        "where objects appear right past a line (a door, an occluder at the line): they would count "
        "at strides above 1. No effect when every frame is detected (docs/tracking.md).",
    )
    confirm_exits: bool = Field(
        True,
        description="ByteTrack with `carry: flow`: a new track the flow carries out of the picture before "
        "the detector looks again is confirmed as it leaves (it cannot get the second detection that "
        "confirms a track), so an object seen once at a low detector rate still counts. No effect when "
        "every frame is detected (docs/tracking.md).",
    )


class LineConfig(_Strict):
    """A counting line from A to B.

    ``in`` is a crossing from the right-hand side to the left-hand side of the arrow A→B as drawn
    on screen: for a vertical line drawn from top to bottom, left-to-right movement is ``in``.
    """

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="Line name.")
    points: tuple[float, float, float, float] = Field(
        ...,
        description="x1, y1, x2, y2 in pixels, or fractions of width/height when all are within [0, 1]; "
        "[[x1, y1], [x2, y2]] (as zone points) is accepted too.",
    )

    @field_validator("points", mode="before")
    @classmethod
    def _point_pairs(cls, v: Any) -> Any:
        """``[[x1, y1], [x2, y2]]`` → ``[x1, y1, x2, y2]``."""
        if isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(p, list | tuple) for p in v):
            if any(len(p) != 2 for p in v):
                raise ValueError("a line's points are [x1, y1, x2, y2] or [[x1, y1], [x2, y2]]")
            return [c for p in v for c in p]
        return v

    @field_validator("points")
    @classmethod
    def _non_negative(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        if any(c < 0 for c in v):
            raise ValueError("coordinates must be ≥ 0")
        if (v[0], v[1]) == (v[2], v[3]):
            raise ValueError(f"a line needs two different points, got ({v[0]:g}, {v[1]:g}) twice")
        return v

    def spec(self) -> LineSpec:
        return LineSpec(self.name, self.points)


class ZoneConfig(_Strict):
    """A polygon zone: occupancy, entries, exits and dwell time of the tracks in it."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$", description="Zone name.")
    points: list[tuple[float, float]] = Field(
        ...,
        min_length=3,
        description="Vertices [[x, y], ...] in order (at least 3), in pixels, or fractions of "
        "width/height when all are within [0, 1].",
    )

    @field_validator("points")
    @classmethod
    def _non_negative(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if any(c < 0 for p in v for c in p):
            raise ValueError("coordinates must be ≥ 0")
        twice_area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(v, [*v[1:], v[0]], strict=True))
        if twice_area == 0:
            raise ValueError("the points enclose no area (all on one line)")
        return v

    def spec(self) -> Polygon:
        return Polygon(self.name, tuple(self.points))


class CountingConfig(_Strict):
    """Line and zone counting."""

    lines: list[LineConfig] = Field(default_factory=list, description="Counting lines.")
    zones: list[ZoneConfig] = Field(
        default_factory=list,
        description="Polygon zones; a track must be inside (outside) for min_frames observations "
        "before it enters (exits).",
    )
    anchor: Anchor = Field(Anchor.BOTTOM_CENTER, description="Point of the box tested against lines.")
    min_frames: int = Field(
        2,
        ge=1,
        le=100,
        description="Frames the anchor must stay on the new side before a crossing counts (and "
        "inside/outside a zone before it enters/exits).",
    )
    once_per_direction: bool = Field(
        False,
        description="Count at most one 'in' and one 'out' per track and line. By default every settled "
        "crossing counts, so a track that goes in, out and in again counts in 2, out 1.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> CountingConfig:
        _require_unique([ln.name for ln in self.lines], "line names")
        _require_unique([z.name for z in self.zones], "zone names")
        return self


class OutputConfig(_Strict):
    """What a run writes."""

    dir: str | None = Field(None, description="Output folder; default runs/<source name>.")
    video: bool = Field(True, description="Write annotated.mp4 (H.264).")
    crf: int = Field(23, ge=0, le=51, description="x264 quality of annotated.mp4 (lower is better).")


class PrivacyConfig(_Strict):
    """What is blurred in the images and videos a run writes."""

    blur: list[str] = Field(
        default_factory=list,
        description="Class names pixelated in every image and video written (e.g. [person]): masks with a "
        "segmentation model, boxes otherwise; detected for that even when not in 'classes'.",
    )


class RunConfig(_Strict):
    """A whole ``vtrack run``: source, model, tracker, counting and outputs."""

    source: str | None = Field(None, description="Video file, image folder or glob of images.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    classes: list[str] | None = Field(
        None, description="Class names to detect, track and count (e.g. [bicycle, person]); default: all."
    )
    subclasses: str | None = Field(
        None,
        description="A .vtc file made by `vtrack learn`: tracks of its parent class are labelled by their "
        "nearest examples and counted as CLASS:LABEL (e.g. person:cyclist). The embedder is read from "
        "$VTRACK_EMBEDDER, else the cache (`vtrack export-embedder`). Default: none.",
    )
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    counting: CountingConfig = Field(default_factory=CountingConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    stride: int = Field(1, ge=1, le=1000, description="Process every k-th frame.")
    fps: float | None = Field(
        None, gt=0, le=1000, description="Frame rate of an image folder (default: seqinfo.ini, else 30)."
    )
    start_time: datetime | None = Field(
        None,
        description="Wall-clock time of the first frame (ISO 8601; UTC when no offset is given). "
        "Default: the container's creation time, else the file's modification time.",
    )
    store: str | None = Field(
        None,
        description="Count store URL: sqlite:///path.db (one file) or postgresql://user@host/db; every "
        "crossing and hourly counts are committed there at least once per second. Default: none.",
    )
    run_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Identity of this run in the count store; running again with the same id replaces its "
        "counts. Default: the source's name + a hash of its absolute path and start time.",
    )
    timezone: str = Field(
        "UTC",
        description="IANA time zone (e.g. Europe/Amsterdam) of this stream's hour/day buckets; recorded "
        "with the run and used by `vtrack counts` unless --tz is given. Times are stored in UTC.",
    )

    @field_validator("store")
    @classmethod
    def _store_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from vtrack.exporters.store.base import StoreError, parse_store_url

        try:
            parse_store_url(v)
        except StoreError as e:
            raise ValueError(str(e)) from e
        return v

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"unknown time zone {v!r}: expected an IANA name, e.g. Europe/Amsterdam") from e
        return v


MAX_CONFIG_BYTES = 1024 * 1024
"""Largest config file read (a deployment of hundreds of streams is a few hundred kB)."""
MAX_CONFIG_NODES = 200_000
"""Most YAML nodes a config may expand to (aliases counted each time they are used): a small file of
nested aliases (a "billion laughs") is refused before validation walks it."""
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (tens of times faster), else the pure-Python one."""


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort YAML line number (1-based) of the node at ``loc`` in the composed document ``root``."""
    node = root
    line = None
    for key in loc:
        if node is None:
            break
        if isinstance(node, yaml.MappingNode) and isinstance(key, str):
            for k, v in node.value:
                if getattr(k, "value", None) == key:
                    line = k.start_mark.line + 1
                    node = v
                    break
            # else a key the models add (a stream's flat counting keys go under 'counting'): look on
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _compose(text: str) -> yaml.Node | None:
    """The YAML document's node tree (``None`` when it does not parse)."""
    try:
        return yaml.compose(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        return None


def format_validation_error(
    err: ValidationError, text: str | None = None, origin: str = "", *, root: yaml.Node | None = None
) -> list[str]:
    """One line per error: ``origin:LINE: path.to.field: message``.

    Args:
        err: pydantic's error.
        text: the YAML text the data came from, for line numbers (parsed once for all errors).
        origin: the file name shown first.
        root: the already composed YAML document (instead of ``text``).
    """
    if root is None and text is not None:
        root = _compose(text)
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (typo?)"
        line = _line_of(root, loc) if root is not None else None
        where = f"{origin}:{line}: " if origin and line else (f"{origin}: " if origin else "")
        out.append(f"{where}{path}: {redact_url(msg)}")
    return out


def _yaml_problem(p: Path, e: yaml.YAMLError) -> ConfigError:
    """A YAML syntax error as one line naming the file, line and column and the problem, without the
    text around it (a camera URL with its password may be on that line)."""
    problem = getattr(e, "problem", None) or type(e).__name__
    context = getattr(e, "context", None)
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(p)
    text = f"{where}: not valid YAML: {problem}" + (f" ({context})" if context else "")
    return ConfigError(redact_url(" ".join(text.split())))


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes of ``root`` with every alias expanded, counting up to just over ``limit``."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        memo[key] = limit + 1  # a cycle (a recursive alias) counts as too large
        n = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                n += size(child)
                if n > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k) + size(v)
                if n > limit:
                    break
        memo[key] = n
        return n

    return size(root)


_M = TypeVar("_M", bound=BaseModel)


def _load_yaml_model(model: type[_M], path: str | Path) -> _M:
    """Read a YAML mapping from ``path`` and validate it as ``model``.

    The text is parsed once (libyaml when available): the same node tree gives the data and the
    line of every error.

    Raises:
        ConfigError: the file is missing or unreadable, over :data:`MAX_CONFIG_BYTES`, not YAML, not a
            mapping, or invalid; the message lists every error with its path (and YAML line where
            found) and never quotes the file's text.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {p}") from e
    except OSError as e:
        raise ConfigError(f"cannot read config file {p}: {e.strerror or e}") from e
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: config file over {MAX_CONFIG_BYTES // 1024} KiB; is it the right file?")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"cannot read config file {p}: not UTF-8 text (byte {e.start})") from e
    loader = _YAML_LOADER(text)
    try:
        root = loader.get_single_node()
        if root is not None and _expanded_size(root, MAX_CONFIG_NODES) > MAX_CONFIG_NODES:
            raise ConfigError(f"{p}: over {MAX_CONFIG_NODES} YAML nodes once aliases are expanded")
        raw: Any = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as e:
        raise _yaml_problem(p, e) from None  # the cause's text quotes the line
    except RecursionError:
        raise ConfigError(f"{p}: YAML nested too deeply") from None
    finally:
        loader.dispose()
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping of settings at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        lines = format_validation_error(e, origin=str(p), root=root)
        # not chained: pydantic's text quotes the input values (a source URL's password)
        raise ConfigError(f"{len(lines)} error(s) in config:\n" + "\n".join(lines)) from None


def load_config(path: str | Path) -> RunConfig:
    """Load and validate a YAML config file.

    Raises:
        ConfigError: the file is missing or unreadable, not YAML, or invalid; the message lists every
            error with its path (and YAML line where found).
    """
    return _load_yaml_model(RunConfig, path)


def lines_from_flags(specs: list[str]) -> list[LineConfig]:
    """Turn ``--line NAME=x1,y1,x2,y2`` flags into line configs.

    Raises:
        ConfigError: for a malformed spec.
    """
    out = []
    for s in specs:
        ls = parse_line_spec(s)
        try:
            out.append(LineConfig(name=ls.name, points=ls.coords))
        except ValidationError as e:
            raise ConfigError(f"--line {s!r}: {_first_message(e)}") from None
    return out


# ---------------------------------------------------------------------------------------------------
# `vtrack serve`: a deployment of many live streams in one process.

TOKEN_ENV = "VTRACK_TOKEN"  # noqa: S105 - the variable's name, not a secret
"""Environment variable read (at load time) for the API token when ``server.token`` is not set."""
STREAM_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024


def _check_store_url(v: str | None) -> str | None:
    if v is None:
        return v
    from vtrack.exporters.store.base import StoreError, parse_store_url

    try:
        parse_store_url(v)
    except StoreError as e:
        raise ValueError(str(e)) from e
    return v


def _check_zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"unknown time zone {v!r}: expected an IANA name, e.g. Europe/Amsterdam") from e
    return v


class AllowSourcesConfig(_Strict):
    """What a stream added through the HTTP API may read (``POST /api/streams``); streams of the
    config file are the operator's and are only checked for FFmpeg protocols and listening options."""

    schemes: list[str] = Field(
        default_factory=lambda: ["rtsp", "rtsps", "rtmp", "rtmps", "http", "https"],
        description="URL schemes allowed (of rtsp, rtsps, rtmp, rtmps, http, https, srt, tcp, udp).",
    )
    hosts: list[str] | None = Field(
        None,
        description="URL hosts allowed: names (exact) or IP networks such as 10.0.0.0/8 (matched against IP "
        "addresses written in the URL). Default: any host.",
    )
    file_roots: list[str] = Field(
        default_factory=list,
        description="Absolute folders whose video files may be read (symbolic links and '..' resolved "
        "first). Default: none, no local file.",
    )
    cameras: bool = Field(False, description="Camera indices and /dev/video* devices may be opened.")

    @field_validator("schemes")
    @classmethod
    def _known_schemes(cls, v: list[str]) -> list[str]:
        from vtrack.stream.spec import LIVE_SCHEMES

        out = [s.lower() for s in v]
        unknown = sorted(set(out) - LIVE_SCHEMES)
        if unknown:
            raise ValueError(
                f"unknown scheme(s) {', '.join(unknown)}: expected of {', '.join(sorted(LIVE_SCHEMES))}"
            )
        return out

    @field_validator("hosts")
    @classmethod
    def _host_entries(cls, v: list[str] | None) -> list[str] | None:
        import ipaddress

        for entry in v or []:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as e:
                    raise ValueError(f"{entry!r} is not an IP network (e.g. 10.0.0.0/8): {e}") from e
            elif not entry or any(c.isspace() for c in entry):
                raise ValueError(f"{entry!r} is not a host name")
        return v

    @field_validator("file_roots")
    @classmethod
    def _absolute_roots(cls, v: list[str]) -> list[str]:
        for root in v:
            if not Path(root).expanduser().is_absolute():
                raise ValueError(f"file root {root!r} must be an absolute folder")
        return v

    def rules(self) -> SourceRules:
        """The policy as the checks take it."""
        from vtrack.stream.policy import SourceRules

        return SourceRules(
            schemes=tuple(self.schemes), file_roots=tuple(self.file_roots), cameras=self.cameras,
            hosts=tuple(self.hosts) if self.hosts is not None else None,
        )


class ServerConfig(_Strict):
    """The HTTP server of ``vtrack serve``."""

    host: str = Field(
        "127.0.0.1", min_length=1, description="Address to bind; 0.0.0.0 exposes the service to the network."
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free port).")
    token: str | None = Field(
        None,
        min_length=8,
        repr=False,
        description=f"API token: every route but /healthz then needs 'Authorization: Bearer TOKEN'. "
        f"Default: ${TOKEN_ENV} (read when the config is loaded), else no authentication.",
    )
    metrics_auth: bool = Field(
        True, description="With a token set, /metrics needs it too (false: open to a scraper)."
    )
    max_request_bytes: int = Field(
        DEFAULT_MAX_REQUEST_BYTES, gt=0, le=16 * 1024 * 1024, description="Largest request body accepted."
    )
    allow_sources: AllowSourcesConfig = Field(
        default_factory=AllowSourcesConfig,
        description="Sources a stream added through the API may read (see docs/security.md).",
    )
    allowed_hosts: list[str] | None = Field(
        None,
        description="Host header values served (names or addresses, without port; '*': any). Default: with "
        "no token on a loopback address only localhost, 127.0.0.1 and ::1 (no DNS rebinding), else any.",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds a connection may take to send a request's headers before it is closed (half-"
        "sent headers cannot hold connections open).",
    )
    max_connections: int = Field(
        1024, ge=16, le=65536, description="Open connections served at once (more get 503)."
    )
    max_requests: int = Field(
        256,
        ge=1,
        le=65536,
        description="Requests handled at once, live views included (more get 503; never /healthz).",
    )


_COUNTING_KEYS = ("lines", "zones", "anchor", "min_frames", "once_per_direction")
"""Keys of :class:`CountingConfig` a stream may also give directly (``StreamConfig``'s flat form)."""


class StreamConfig(_Strict):
    """One live stream of a deployment: its source, classes, counting lines and tracker."""

    id: str = Field(
        ...,
        pattern=STREAM_ID_PATTERN,
        description="Stream id: lowercase letters, digits, '_' and '-' (used in URLs and metric labels).",
    )
    source: str = Field(
        ...,
        min_length=1,
        max_length=2048,
        repr=False,  # may hold a password
        description="rtsp://, rtmp://, http(s):// (MJPEG or video) URL, camera index or /dev/video path, or "
        "a video file. Credentials in the URL are never shown.",
    )
    loop: bool = Field(False, description="Play a video file again from the start when it ends (demos).")
    classes: list[str] | None = Field(
        None, description="Class names to detect, track and count (e.g. [car, bicycle]); default: all."
    )
    subclasses: str | None = Field(
        None,
        description="A .vtc file made by `vtrack learn`: this stream's tracks of its parent class are "
        "counted as CLASS:LABEL (e.g. person:cyclist). Default: none.",
    )
    subclasses_examples: str | None = Field(
        None,
        description="Folder of labelled crops (one sub-folder per label) that the API's teaching routes "
        "file crops into and learn again from, rewriting `subclasses`. Default: none (teaching off).",
    )
    counting: CountingConfig = Field(
        default_factory=CountingConfig,
        description="Lines, zones and counting rules, as in `vtrack run` (the keys of `counting:` may also "
        "be written directly in the stream: `lines:`, `zones:`, `anchor:`, `min_frames:`, "
        "`once_per_direction:`).",
    )
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    max_fps: float | None = Field(
        None, gt=0, le=240, description="Most frames per second processed; newer frames replace older ones."
    )
    enabled: bool = Field(True, description="Start this stream (false: configured but not run).")
    privacy: PrivacyConfig = Field(
        default_factory=PrivacyConfig,
        description="Classes pixelated in the live view (MJPEG, snapshot) of this stream.",
    )
    outputs: bool = Field(
        False,
        description="Write this stream's events.jsonl and hourly counts.csv (with zones also "
        "zone_events.jsonl and zones.csv) under <output_dir>/<id>/, one folder per period of counting "
        "(needs the deployment's output_dir).",
    )

    @model_validator(mode="before")
    @classmethod
    def _flat_counting(cls, data: Any) -> Any:
        """Accept the counting keys written directly in the stream (the older, flat form)."""
        if not isinstance(data, dict):
            return data
        flat = {k: data[k] for k in _COUNTING_KEYS if k in data}
        if not flat:
            return data
        nested = data.get("counting")
        if nested is not None:
            raise ValueError(
                f"{', '.join(flat)}: write the counting keys either in the stream or under 'counting:', "
                "not both"
            )
        rest = {k: v for k, v in data.items() if k not in flat}
        return {**rest, "counting": flat}

    @field_validator("source")
    @classmethod
    def _ffmpeg_safe(cls, v: str) -> str:
        from vtrack.stream.policy import check_source_spec

        try:
            check_source_spec(v)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        return v


class DeploymentConfig(_Strict):
    """A whole ``vtrack serve`` deployment: server, shared model, count store and streams."""

    server: ServerConfig = Field(default_factory=ServerConfig)
    model: ModelConfig = Field(default_factory=ModelConfig, description="One detector shared by all streams.")
    store: str | None = Field(
        None, description="Count store URL (sqlite:///path.db or postgresql://…) for all crossings."
    )
    timezone: str = Field("UTC", description="IANA time zone of hour buckets (e.g. Europe/Amsterdam).")
    output_dir: str | None = Field(
        None,
        min_length=1,
        description="Folder of the per-stream output files of streams with 'outputs: true' (each in "
        "<output_dir>/<stream id>/). Default: none (no files written).",
    )
    streams: list[StreamConfig] = Field(default_factory=list, description="The live streams.")

    @field_validator("store")
    @classmethod
    def _store_url(cls, v: str | None) -> str | None:
        return _check_store_url(v)

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, v: str) -> str:
        return _check_zone(v)

    @model_validator(mode="after")
    def _unique_ids(self) -> DeploymentConfig:
        _require_unique([s.id for s in self.streams], "stream ids")
        writing = [s.id for s in self.streams if s.outputs]
        if writing and self.output_dir is None:
            raise ValueError(f"'outputs: true' needs 'output_dir:' (set for streams: {', '.join(writing)})")
        return self


_DEPLOYMENT_KEY = re.compile(r"^(streams|server)\s*:", re.MULTILINE)


def is_deployment_file(path: str | Path) -> bool:
    """Whether a YAML file is a ``vtrack serve`` deployment (it has a top-level ``streams:`` or
    ``server:`` key) rather than a ``vtrack run`` config; ``False`` when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return _DEPLOYMENT_KEY.search(text) is not None


def load_deployment_config(path: str | Path, *, environ: dict[str, str] | None = None) -> DeploymentConfig:
    """Load and validate a ``vtrack serve`` YAML file; ``$VTRACK_TOKEN`` fills an unset ``server.token``.

    Args:
        path: the YAML file.
        environ: environment to read (default ``os.environ``, read now, not at import).

    Raises:
        ConfigError: the file is missing, unreadable, not YAML or invalid; every error with its path and
            YAML line where found.
    """
    import os

    cfg = _load_yaml_model(DeploymentConfig, path)
    env = os.environ if environ is None else environ
    if cfg.server.token is None and env.get(TOKEN_ENV):
        try:
            cfg.server.token = env[TOKEN_ENV]
        except ValidationError as e:
            raise ConfigError(f"${TOKEN_ENV}: {e.errors()[0]['msg']}") from e
    return cfg


def zones_from_flags(specs: list[str]) -> list[ZoneConfig]:
    """Turn ``--zone NAME=x1,y1,x2,y2,x3,y3,...`` flags into zone configs.

    Raises:
        ConfigError: for a malformed spec.
    """
    out = []
    for s in specs:
        poly = parse_zone_spec(s)
        try:
            out.append(ZoneConfig(name=poly.name, points=list(poly.points)))
        except ValidationError as e:
            raise ConfigError(f"--zone {s!r}: {_first_message(e)}") from None
    return out


def _first_message(err: ValidationError) -> str:
    """The first error's message without pydantic's "Value error, " prefix."""
    return str(err.errors()[0]["msg"]).removeprefix("Value error, ")
