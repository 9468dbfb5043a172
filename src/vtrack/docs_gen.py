"""Generate ``docs/configuration.md`` from the pydantic models in :mod:`vtrack.config`.

The configuration reference is never written by hand: every key, its type, default, constraints and
description come from the models, so the page cannot drift from the code. A test regenerates the page
and compares it with the committed file.

Usage::

    python -m vtrack.docs_gen > docs/configuration.md     # or: vtrack docs-config > docs/configuration.md
    python -m vtrack.docs_gen --check docs/configuration.md  # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import enum
import inspect
import logging
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

log = logging.getLogger(__name__)

#: Top-level models documented, in order: (name in vtrack.config, heading, what reads it).
#: A name that vtrack.config does not (yet) define is left out of the page.
DOCUMENTED_MODELS: tuple[tuple[str, str, str], ...] = (
    ("RunConfig", "Run configuration", "`vtrack run --config FILE` and `vtrack validate-config FILE`"),
    ("DeploymentConfig", "Deployment configuration", "`vtrack serve --config FILE`"),
)

#: The command that rewrites the page; quoted by the drift test and the page header.
REGENERATE_COMMAND = ".venv/bin/python -m vtrack.docs_gen > docs/configuration.md"

_CONSTRAINT_ATTRS: tuple[tuple[str, str], ...] = (
    ("gt", "> {}"),
    ("ge", "≥ {}"),
    ("lt", "< {}"),
    ("le", "≤ {}"),
    ("multiple_of", "multiple of {}"),
    ("min_length", "min length {}"),
    ("max_length", "max length {}"),
    ("pattern", "matches `{}`"),
)


@dataclass
class _Section:
    """One model documented as a table; ``paths`` are the YAML key paths where it appears."""

    model: type[BaseModel]
    paths: list[str] = field(default_factory=list)


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _is_model(tp: Any) -> bool:
    return inspect.isclass(tp) and issubclass(tp, BaseModel)


def _type_name(tp: Any) -> str:
    """Human-readable type, close to how it is written in YAML terms.

    Args:
        tp: a type annotation (``int | None``, ``list[LineConfig]``, ``Literal["a", "b"]``, ...).

    Returns:
        A short string such as ``int | null``, ``list[LineConfig]`` or ``"a" | "b"``.
    """
    if tp is type(None):
        return "null"
    if tp is Any:
        return "any"
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return f"tuple[{_type_name(args[0])}, ...]"
        return f"{name}[{', '.join(_type_name(a) for a in args)}]" if args else name
    if inspect.isclass(tp) and issubclass(tp, enum.Enum):
        return " | ".join(f'"{m.value}"' for m in tp)
    if inspect.isclass(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _nested_models(tp: Any) -> Iterator[type[BaseModel]]:
    """Every pydantic model inside an annotation (``list[X]``, ``X | None``, unions, dict values)."""
    if _is_model(tp):
        yield tp
        return
    for a in get_args(tp):
        yield from _nested_models(a)


def _constraints(info: FieldInfo) -> str:
    out: list[str] = []
    for meta in info.metadata:
        for attr, fmt in _CONSTRAINT_ATTRS:
            val = getattr(meta, attr, None)
            if val is not None:
                out.append(fmt.format(val))
    if info.discriminator is not None:
        out.append(f"chosen by `{info.discriminator}`")
    return ", ".join(out)


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _literal(value.value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_literal(v)}" for k, v in value.items()) + "}"
    return str(value)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:  # a factory taking the validated data: describe, don't guess
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section defaults)"
        return f"`{_literal(value)}`"
    if info.default is PydanticUndefined:
        return ""
    return f"`{_literal(info.default)}`"


def _cell(text: str) -> str:
    """Escape a table cell: pipes and newlines break GitHub tables."""
    return " ".join(text.split()).replace("|", "\\|")


def _prose(text: str) -> str:
    """Plain text for Markdown: ``<name>`` would be swallowed as an HTML tag."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _type_cell(info: FieldInfo, documented: dict[type[BaseModel], _Section]) -> str:
    if _is_model(info.annotation) and info.annotation in documented:
        return f"[{info.annotation.__name__}](#{_anchor(info.annotation)})"
    text = f"`{_type_name(info.annotation)}`"
    links = [f"[{m.__name__}](#{_anchor(m)})" for m in _nested_models(info.annotation) if m in documented]
    if links:
        text += " → " + ", ".join(dict.fromkeys(links))
    return _cell(text)


def _summary(info: FieldInfo) -> str:
    """A field without a description: the first line of its nested model's docstring, if any."""
    for m in _nested_models(info.annotation):
        doc = inspect.cleandoc(m.__doc__ or "").strip()
        if doc:
            return doc.splitlines()[0]
    return ""


def _alias(name: str, info: FieldInfo) -> str:
    return info.alias or name


def _collect(root: type[BaseModel], seen: dict[type[BaseModel], _Section]) -> list[_Section]:
    """Depth-first, in field order: the sections that ``root`` needs and that are not documented yet.

    Models seen before (under another top-level model) get this key path added to their section.
    """
    new: list[_Section] = []

    def visit(model: type[BaseModel], path: str) -> None:
        where = f"`{path}` in {root.__name__}" if path else ""
        if model in seen:
            if where and where not in seen[model].paths:
                seen[model].paths.append(where)
            return
        sec = _Section(model, [where] if where else [])
        seen[model] = sec
        new.append(sec)
        for name, info in model.model_fields.items():
            key = _alias(name, info)
            origin = get_origin(info.annotation)
            is_list = any(
                get_origin(a) in (list, tuple) for a in (info.annotation, *get_args(info.annotation))
            ) or origin in (list, tuple)
            is_dict = origin is dict or any(get_origin(a) is dict for a in get_args(info.annotation))
            suffix = "[]" if is_list else (".*" if is_dict else "")
            child = f"{path}.{key}{suffix}" if path else f"{key}{suffix}"
            for sub in _nested_models(info.annotation):
                visit(sub, child)

    visit(root, "")
    return new


def _section_markdown(sec: _Section, documented: dict[type[BaseModel], _Section], level: str) -> list[str]:
    model = sec.model
    lines = [f'{level} {model.__name__} <a id="{_anchor(model)}"></a>', ""]
    doc = inspect.cleandoc(model.__doc__ or "").strip()
    if doc:
        lines += [_prose(doc), ""]
    if sec.paths:
        lines += ["Key path: " + ", ".join(sec.paths) + ".", ""]
    extra = model.model_config.get("extra")
    if extra == "forbid":
        lines += ["Unknown keys are errors.", ""]
    lines += ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    for name, info in model.model_fields.items():
        row = [
            f"`{_alias(name, info)}`",
            _type_cell(info, documented),
            _cell(_default(info)),
            _cell(_constraints(info)),
            _cell(_prose(info.description or _summary(info))),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def _top_models() -> list[tuple[type[BaseModel], str, str]]:
    from vtrack import config

    found = []
    for name, heading, reader in DOCUMENTED_MODELS:
        model = getattr(config, name, None)
        if model is None:
            log.info("vtrack.config has no %s yet; left out of the reference", name)
            continue
        if not _is_model(model):
            raise TypeError(f"vtrack.config.{name}: expected a pydantic model, got {type(model).__name__}")
        found.append((model, heading, reader))
    return found


def render() -> str:
    """The whole ``docs/configuration.md`` page, as Markdown (deterministic; ends with a newline)."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated from the pydantic models in src/vtrack/config.py by src/vtrack/docs_gen.py. "
        f"Do not edit by hand: run `{REGENERATE_COMMAND}`. -->",
        "",
        "Every key of the YAML files that vtrack reads, generated from the models that validate them, so "
        "it cannot drift from the code. Check a file with `vtrack validate-config FILE`: each error is "
        "reported with its key path and YAML line. Command-line flags override the file.",
        "",
        "Types: `null` means the key may be left out or set to `null`; `list[X]` is a YAML sequence; "
        '`"a" | "b"` lists the accepted values. *required* keys have no default.',
        "",
    ]
    documented: dict[type[BaseModel], _Section] = {}
    tops = _top_models()
    for model, heading, reader in tops:
        out.append(
            f"- [{heading}](#{heading.lower().replace(' ', '-')}) (`{model.__name__}`): read by {reader}"
        )
    out.append("")
    # Collect every top-level model first, so a shared section lists all its key paths.
    per_top = [(model, heading, reader, _collect(model, documented)) for model, heading, reader in tops]
    for model, heading, reader, sections in per_top:
        out += [f"## {heading}", "", f"Read by {reader}.", ""]
        shared = [
            m
            for m in documented
            if documented[m] not in sections
            and any(p.endswith(f"in {model.__name__}") for p in documented[m].paths)
        ]
        if shared:
            out += [
                "Also uses " + ", ".join(f"[{m.__name__}](#{_anchor(m)})" for m in shared) + " (above).",
                "",
            ]
        if not sections:
            out += [f"Same as [{model.__name__}](#{_anchor(model)}).", ""]
        for sec in sections:
            out += _section_markdown(sec, documented, "###")
    return "\n".join(out).rstrip("\n") + "\n"


def check(path: Path) -> bool:
    """Whether ``path`` holds exactly what :func:`render` produces now."""
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return False
    return current == render()


def main(argv: list[str] | None = None) -> int:
    """Write the reference to stdout or ``--out``; ``--check FILE`` exits 1 when FILE is stale."""
    parser = argparse.ArgumentParser(prog="python -m vtrack.docs_gen", description=__doc__.splitlines()[0])
    parser.add_argument("--out", "-o", type=Path, help="write here instead of stdout")
    parser.add_argument("--check", type=Path, metavar="FILE", help="exit 1 when FILE is out of date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.check is not None:
        if check(args.check):
            log.info("%s is up to date", args.check)
            return 0
        log.error(
            "%s is out of date with src/vtrack/config.py: run `%s` to update", args.check, REGENERATE_COMMAND
        )
        return 1
    text = render()
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def docs_config_command(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout (docs/configuration.md).")
    ] = None,
    check: Annotated[
        Path | None, typer.Option("--check", metavar="FILE", help="Exit 1 when FILE is out of date.")
    ] = None,
) -> None:
    """Print the configuration reference (docs/configuration.md), generated from the config models."""
    argv: list[str] = []
    if out is not None:
        argv += ["--out", str(out)]
    if check is not None:
        argv += ["--check", str(check)]
    code = main(argv)
    if code:
        raise typer.Exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
