"""docs/configuration.md is generated from the pydantic models and must match them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from vtrack import config, docs_gen
from vtrack.docs_gen import REGENERATE_COMMAND, render

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DOC = REPO_ROOT / "docs" / "configuration.md"


def _all_field_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[tuple[str, str]]:
    """(model name, key) of every field reachable from ``model``."""
    if model in seen:
        return set()
    seen.add(model)
    out = {(model.__name__, name) for name in model.model_fields}
    for info in model.model_fields.values():
        for sub in docs_gen._nested_models(info.annotation):
            out |= _all_field_keys(sub, seen)
    return out


def test_committed_reference_matches_models() -> None:
    """Fails when a model changed and the page was not regenerated."""
    current = CONFIG_DOC.read_text(encoding="utf-8") if CONFIG_DOC.exists() else ""
    assert current == render(), (
        f"{CONFIG_DOC.relative_to(REPO_ROOT)} is out of date with the models in src/vtrack/config.py: "
        f"run `{REGENERATE_COMMAND}` to update"
    )


def test_every_field_of_every_model_is_documented() -> None:
    text = render()
    seen: set[type[BaseModel]] = set()
    keys: set[tuple[str, str]] = set()
    for name, _, _ in docs_gen.DOCUMENTED_MODELS:
        model = getattr(config, name, None)
        if model is not None:
            keys |= _all_field_keys(model, seen)
    assert ("RunConfig", "store") in keys
    for model in seen:
        assert f'<a id="{model.__name__.lower()}"></a>' in text, model.__name__
    for model_name, key in keys:
        assert f"| `{key}` |" in text, f"{model_name}.{key} missing from the reference"


def test_deployment_config_documented_when_defined() -> None:
    if not hasattr(config, "DeploymentConfig"):
        pytest.skip("vtrack.config has no DeploymentConfig yet (the `vtrack serve` work is not merged)")
    text = render()
    assert "## Deployment configuration" in text
    assert "`streams[]` in DeploymentConfig" in text


class _Inner(BaseModel):
    """Inner section."""

    model_config = ConfigDict(extra="forbid")
    k: int = Field(3, ge=1, le=9, description="A knob.")


class _Outer(BaseModel):
    """Outer."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, pattern=r"^[a-z]+$", description="Name | with pipe.")
    mode: Literal["a", "b"] = Field("a", description="Mode.")
    inner: _Inner = Field(default_factory=_Inner)
    items: list[_Inner] = Field(default_factory=list, description="Items.")
    ratio: float | None = Field(None, gt=0.0, description="Ratio.")
    out: str = Field("runs", description="Folder; default runs/<name>.")


def test_rows_show_type_default_constraints_and_description(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "RunConfig", _Outer)
    monkeypatch.delattr(config, "DeploymentConfig", raising=False)
    text = render()
    name_row = "| `name` | `str` | **required** | min length 1, matches `^[a-z]+$` | Name \\| with pipe. |"
    assert name_row in text
    assert '| `mode` | `"a" \\| "b"` | `"a"` |  | Mode. |' in text
    assert "| `inner` | [_Inner](#_inner) | (section defaults) |  | Inner section. |" in text
    assert "| `items` | `list[_Inner]` → [_Inner](#_inner) | `[]` |  | Items. |" in text
    assert "| `ratio` | `float \\| null` | `null` | > 0.0 | Ratio. |" in text
    assert "| `k` | `int` | `3` | ≥ 1, ≤ 9 | A knob. |" in text
    assert '| `out` | `str` | `"runs"` |  | Folder; default runs/&lt;name&gt;. |' in text
    assert "Key path: `inner` in _Outer, `items[]` in _Outer." in text
    assert "Deployment configuration" not in text


def test_check_mode_reports_stale_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert docs_gen.main(["--check", str(stale)]) == 1
    assert REGENERATE_COMMAND in caplog.text
    fresh = tmp_path / "fresh.md"
    assert docs_gen.main(["--out", str(fresh)]) == 0
    assert docs_gen.main(["--check", str(fresh)]) == 0


def test_vtrack_docs_config_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from vtrack.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["docs-config"])
    assert res.exit_code == 0, res.output
    assert res.stdout == render()
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert runner.invoke(app, ["docs-config", "--check", str(stale)]).exit_code == 1
