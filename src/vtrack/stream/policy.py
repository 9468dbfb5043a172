"""Which sources a stream may name: FFmpeg-safe specs always, and the deployment's source policy.

A source spec goes to FFmpeg (PyAV), which reads more than video URLs: ``concat:``, ``subfile:``,
``pipe:`` and ``file:`` protocols, and options in a URL's query (``tcp://host:port?listen=1`` makes
it *listen* on a port). Two levels of checks:

* :func:`check_source_spec`, for every stream (config file and API): the spec is a camera, a file
  path, or a URL of a live scheme vtrack reads (:data:`~vtrack.stream.live.LIVE_SCHEMES`); never an
  FFmpeg protocol prefix, never an option that makes FFmpeg listen, never a control character.
* :func:`check_source_allowed`, for streams added through the HTTP API: the source must also pass
  the deployment's ``server.allow_sources`` (:class:`SourceRules`): allowed URL schemes (and hosts),
  folders whose files may be read, whether cameras may be opened. An authenticated client can then
  neither read local files outside those folders (nor learn whether they exist), nor open a listening
  socket, nor reach schemes the operator did not allow.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from vtrack.errors import ConfigError
from vtrack.redact import redact_url
from vtrack.stream.spec import LIVE_SCHEMES, is_live_spec

DEFAULT_API_SCHEMES: Final = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https")
"""URL schemes a stream added through the API may use by default (not ``tcp``/``udp``/``srt``: raw
sockets, whose FFmpeg protocols take listening options)."""

LISTEN_OPTIONS: Final = frozenset({"listen", "listen_timeout", "rtsp_flags", "listen_port"})
"""URL query keys FFmpeg reads as "listen for a connection" (tcp, http, rtmp, rtsp); never accepted."""
SRT_LISTEN_MODES: Final = frozenset({"listener", "rendezvous"})
"""``srt://…?mode=`` values that bind a port."""

_PROTOCOL_PREFIX: Final = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9+.\-]+)[:,]")  # as FFmpeg finds one
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CAMERA_PATH: Final = re.compile(r"^/dev/video[0-9]+$")


@dataclass(frozen=True, slots=True)
class SourceRules:
    """The source policy of streams added through the API (``server.allow_sources``).

    Attributes:
        schemes: allowed URL schemes (lowercase).
        file_roots: folders whose video files (after resolving ``..`` and symbolic links) may be read;
            empty: no local files.
        cameras: camera indices and ``/dev/video*`` devices may be opened.
        hosts: allowed URL hosts, names (exact, case-insensitive) or IP networks (``10.0.0.0/8``,
            matched against IP literals); ``None``: any host but link-local and unspecified address
            literals (``169.254.169.254``, a cloud's metadata service; ``0.0.0.0``).
    """

    schemes: tuple[str, ...] = DEFAULT_API_SCHEMES
    file_roots: tuple[str, ...] = ()
    cameras: bool = False
    hosts: tuple[str, ...] | None = None


def _scheme(spec: str) -> str | None:
    head, sep, _ = spec.partition("://")
    return head.lower() if sep else None


def check_source_spec(spec: str) -> None:
    """Refuse specs FFmpeg would read as something else than a camera, a file or a live URL.

    Raises:
        ConfigError: a control character, an FFmpeg protocol prefix (``concat:``, ``file:``…), an
            unknown URL scheme or a listening option; the message shows the source redacted.
    """
    shown = redact_url(spec)
    if _CONTROL.search(spec):
        raise ConfigError("source holds a control character (a line break, a tab…)")
    text = spec.strip()
    scheme = _scheme(text)
    if scheme is None:
        m = _PROTOCOL_PREFIX.match(text)
        if m is not None:
            raise ConfigError(
                f"source {shown!r}: '{m['name']}' is an FFmpeg protocol, not a source; give a camera, "
                f"a file path or a {'/'.join(sorted(LIVE_SCHEMES))} URL"
            )
        return
    if scheme not in LIVE_SCHEMES:
        raise ConfigError(
            f"source {shown!r}: unsupported URL scheme {scheme!r}; expected one of "
            f"{', '.join(sorted(LIVE_SCHEMES))} (a local file is given as a path)"
        )
    for key, value in parse_qsl(_query(text), keep_blank_values=True):
        k = key.lower()
        if k in LISTEN_OPTIONS or (scheme == "srt" and k == "mode" and value.lower() in SRT_LISTEN_MODES):
            raise ConfigError(
                f"source {shown!r}: the option {key!r} would make the server listen for connections; "
                "sources are only read from"
            )


def _query(text: str) -> str:
    """The query of a URL; credentials are cut first (a password may hold '?' or '/')."""
    safe = redact_url(text)
    return safe.partition("?")[2].partition("#")[0]


def _host(text: str) -> str:
    try:
        return (urlsplit(redact_url(text)).hostname or "").lower()
    except ValueError:
        return ""


def _ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal names, read as leniently as the resolver does (``2852039166``,
    ``0xa9.0xfe.0xa9.0xfe`` and IPv4-mapped IPv6 name IPv4 addresses too); ``None`` for a name."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _host_allowed(host: str, allowed: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in allowed:
        if ip is not None and "/" in entry:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        elif host == entry.lower().strip("[]"):
            return True
    return False


def _inside(path: Path, roots: Sequence[str]) -> bool:
    for root in roots:
        base = Path(root).expanduser().resolve()
        if path == base or base in path.parents:
            return True
    return False


def check_source_allowed(spec: str, rules: SourceRules) -> None:
    """Refuse a source the policy does not allow (after :func:`check_source_spec`).

    The answer for a file outside the roots is the same whether it exists or not.

    Raises:
        ConfigError: one line naming the rule (``server.allow_sources.…``) that refused it.
    """
    check_source_spec(spec)
    text = spec.strip()
    shown = redact_url(text)
    if (text.isascii() and text.isdigit()) or _CAMERA_PATH.match(text):
        if not rules.cameras:
            raise ConfigError(f"source {shown!r}: cameras are not allowed (server.allow_sources.cameras)")
        return
    scheme = _scheme(text)
    if scheme is not None and is_live_spec(text):
        if scheme not in rules.schemes:
            raise ConfigError(
                f"source {shown!r}: scheme {scheme!r} is not allowed (server.allow_sources.schemes: "
                f"{', '.join(rules.schemes) or 'none'})"
            )
        host = _host(text)
        if rules.hosts is not None and not _host_allowed(host, rules.hosts):
            raise ConfigError(f"source {shown!r}: host not allowed (server.allow_sources.hosts)")
        ip = _ip_of(host)
        if rules.hosts is None and ip is not None and (ip.is_link_local or ip.is_unspecified):
            raise ConfigError(
                f"source {shown!r}: link-local and unspecified addresses (cloud metadata services live "
                "there) are refused unless listed in server.allow_sources.hosts"
            )
        return
    try:
        path = Path(text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        path = None
    if path is None or not _inside(path, rules.file_roots):
        where = ", ".join(rules.file_roots) if rules.file_roots else "none"
        raise ConfigError(
            f"source {shown!r}: files outside the allowed folders are not read "
            f"(server.allow_sources.file_roots: {where})"
        )


__all__ = [
    "DEFAULT_API_SCHEMES",
    "LISTEN_OPTIONS",
    "SourceRules",
    "check_source_allowed",
    "check_source_spec",
]
