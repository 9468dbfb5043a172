"""Errors that reach the user as one clear line (the CLI prints ``str(err)``, never a traceback)."""

from __future__ import annotations


class VtrackError(Exception):
    """Base class of every error vtrack reports to a user.

    The message must name what was expected and what came, e.g.
    ``"model file not found: /x/y.onnx"``.
    """


class ConfigError(VtrackError):
    """A configuration value, flag or file is invalid."""


class SourceError(VtrackError):
    """A source (file, folder, camera) cannot be opened or read."""


class ModelError(VtrackError):
    """A model cannot be loaded, is not a supported Ultralytics export, or cannot be exported."""


class ExportError(VtrackError):
    """An exporter cannot write its output, or was used after ``close()``."""
