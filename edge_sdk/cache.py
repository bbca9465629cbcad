"""The SDK's per-user cache directory and the small facts it remembers between processes.

``platformdirs``' user cache directory (``~/.cache/edge-face-sdk`` on Linux), or ``$EDGE_SDK_CACHE_DIR``; never
inside site-packages. Everything here is an optimisation: a cache that cannot be read or written is ignored (with a
warning), never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_ENV = "EDGE_SDK_CACHE_DIR"


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("edge-face-sdk", appauthor=False))


def fact_digest(**facts: object) -> str:
    """A stable name for a set of facts (JSON-serialisable values)."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


def has_marker(kind: str, digest: str) -> bool:
    """Whether :func:`set_marker` recorded ``digest`` under ``kind`` (e.g. a model that passed its self-check)."""
    try:
        return (cache_dir() / kind / digest).is_file()
    except OSError:
        return False


def set_marker(kind: str, digest: str) -> None:
    try:
        folder = cache_dir() / kind
        folder.mkdir(parents=True, exist_ok=True)
        (folder / digest).touch()
    except OSError as exc:
        log.warning("could not record %s in the cache %s: %s", kind, cache_dir(), exc)
