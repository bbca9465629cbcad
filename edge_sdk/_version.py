"""The one place that names this release: its version and the distribution name it is installed under.

The import package is ``edge_sdk`` and the command is ``edge-sdk``; the distribution on the package index is
``edge-face-sdk`` (the name ``edge-sdk`` belongs to an unrelated project). pyproject.toml reads the version from here.
"""

from __future__ import annotations

__version__ = "0.1.0"
DISTRIBUTION = "edge-face-sdk"


def install_hint(extra: str) -> str:
    """The pip command that installs this distribution with one extra, e.g. ``pip install 'edge-face-sdk[onnx]'``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"
