"""The cached answer to "which backend is fastest here?" that ``backend="auto"`` reads (:mod:`edge_sdk.tuning`
measures and writes it).

:func:`edge_sdk.tuning.tune` loads every installed backend that has a file of the asked precision at the asked input
size, times ``detect()`` on a fixed synthetic frame for a bounded run, and writes the ranking to a small JSON cache in
the user cache directory (``platformdirs``: ``~/.cache/edge-face-sdk`` on Linux; ``$EDGE_SDK_CACHE_DIR`` overrides
it; never
inside site-packages). The cache is keyed by what decides the ranking — CPU model, core count, machine, Python and
runtime versions, the model's manifest sha256, precision, input size and threads — so a new runtime version or
another model re-tunes. :func:`cached_choice` reads it back for ``FaceDetector(backend="auto")``; a cache that is
missing, stale or corrupt is ignored (corrupt: with a warning), and auto falls back to :data:`STATIC_ORDER`.

All backends of one precision give the same faces (fp32: raw outputs within 5e-5, tests/test_backends.py), so the
choice is a matter of speed alone within a precision; auto never changes the precision the caller asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .cache import cache_dir

log = logging.getLogger(__name__)

CACHE_FILE = "backend-choice.json"
CACHE_FORMAT = 1
RUNTIME_PACKAGES = ("onnxruntime", "openvino", "ai-edge-litert", "tflite-runtime", "numpy", "opencv-python-headless")


def cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it (Linux /proc/cpuinfo), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Hardware", "Model", "cpu model"):
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def _machine_facts() -> tuple[str, int, str, str, tuple[tuple[str, str | None], ...]]:
    """What a process cannot change about its machine and runtimes (read once: metadata lookups cost milliseconds)."""
    return (
        cpu_model(),
        os.cpu_count() or 1,
        platform.machine(),
        platform.python_version(),
        tuple((p, _version(p)) for p in RUNTIME_PACKAGES),
    )


def runtime_versions() -> tuple[tuple[str, str | None], ...]:
    """Installed versions of the runtimes and array libraries (what a cached measurement depends on)."""
    return _machine_facts()[4]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class TuneKey:
    """Everything that decides which backend is fastest; a cached choice is used only when all of it matches."""

    cpu: str
    cores: int
    machine: str
    python: str
    runtimes: tuple[tuple[str, str | None], ...]
    manifest_sha256: str
    precision: str
    input_size: tuple[int, int] | None
    threads: int | None

    @classmethod
    def for_model(
        cls, manifest_sha256: str, precision: str, input_size: tuple[int, int] | None, threads: int | None
    ) -> TuneKey:
        cpu, cores, machine, python, runtimes = _machine_facts()
        return cls(
            cpu=cpu,
            cores=cores,
            machine=machine,
            python=python,
            runtimes=runtimes,
            manifest_sha256=manifest_sha256,
            precision=precision,
            input_size=None if input_size is None else (int(input_size[0]), int(input_size[1])),
            threads=threads,
        )

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Candidate:
    backend: str
    model_file: str
    median_ms: float | None
    calls: int
    load_ms: float | None
    skipped: str | None = None


@dataclass(frozen=True)
class TuneResult:
    key: TuneKey
    choice: str | None
    candidates: tuple[Candidate, ...]
    measured_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "key": asdict(self.key),
            "key_digest": self.key.digest(),
            "choice": self.choice,
            "candidates": [asdict(c) for c in self.candidates],
            "measured_at": self.measured_at,
        }


def manifest_digest(manifest_path: Path) -> str:
    return hashlib.sha256(Path(manifest_path).read_bytes()).hexdigest()


def save_result(result: TuneResult) -> Path:
    """Add ``result`` to the cache file (one entry per key), written atomically."""
    path = cache_path()
    entries = {e["key_digest"]: e for e in _read_entries(path)}
    entries[result.key.digest()] = result.to_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"format": CACHE_FORMAT, "entries": list(entries.values())}, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def _read_entries(path: Path) -> list[dict[str, Any]]:
    """The cache's entries; an unreadable or malformed file counts as empty, with a warning (never an error)."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
        entries = data["entries"] if data.get("format") == CACHE_FORMAT else []
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "key_digest" in e for e in entries):
            raise ValueError("entries are not a list of keyed results")
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning(
            "ignoring the backend-choice cache %s (%s: %s); run `edge-sdk tune` to rebuild it",
            path,
            type(exc).__name__,
            exc,
        )
        return []


def cached_entry(key: TuneKey) -> dict[str, Any] | None:
    """The cached tuning for exactly this key, or None."""
    digest = key.digest()
    for entry in _read_entries(cache_path()):
        if entry.get("key_digest") == digest and isinstance(entry.get("choice"), str):
            return entry
    return None


def cached_choice(
    manifest_path: Path, precision: str, input_size: tuple[int, int] | None, threads: int | None
) -> str | None:
    """The backend :func:`tune` found fastest for this machine, runtimes, model and settings, or None."""
    entry = cached_entry(TuneKey.for_model(manifest_digest(manifest_path), precision, input_size, threads))
    return None if entry is None else entry["choice"]
