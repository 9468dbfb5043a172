"""vtrack: real-time video detection, tracking and counting."""

__version__ = "0.1.0"

__all__ = ["__version__"]
