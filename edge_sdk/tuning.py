"""``backend="auto"`` by measurement: time each installed backend on this machine, remember the fastest.

:func:`tune` loads every installed backend that has a file of the asked precision at the asked input size, times
``detect()`` on a fixed synthetic frame for a bounded run, and writes the ranking to a small JSON cache in the user
cache directory (``platformdirs``: ``~/.cache/edge-face-sdk`` on Linux; ``$EDGE_SDK_CACHE_DIR`` overrides it; never
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
import statistics
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .cache import CACHE_ENV, cache_dir
from .errors import EdgeSDKError

log = logging.getLogger(__name__)

CACHE_FILE = "backend-choice.json"
CACHE_FORMAT = 1
RUNTIME_PACKAGES = ("onnxruntime", "openvino", "ai-edge-litert", "tflite-runtime", "numpy", "opencv-python-headless")
DEFAULT_BUDGET_S = 2.0  # timed detect() calls per tuning, all candidates together
MIN_CALLS = 5


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
    return (cpu_model(), os.cpu_count() or 1, platform.machine(), platform.python_version(),
            tuple((p, _version(p)) for p in RUNTIME_PACKAGES))


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
    def for_model(cls, manifest_sha256: str, precision: str, input_size: tuple[int, int] | None,
                  threads: int | None) -> "TuneKey":
        cpu, cores, machine, python, runtimes = _machine_facts()
        return cls(cpu=cpu, cores=cores, machine=machine, python=python, runtimes=runtimes,
                   manifest_sha256=manifest_sha256, precision=precision,
                   input_size=None if input_size is None else (int(input_size[0]), int(input_size[1])),
                   threads=threads)

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
        return {"format": CACHE_FORMAT, "key": asdict(self.key), "key_digest": self.key.digest(),
                "choice": self.choice, "candidates": [asdict(c) for c in self.candidates],
                "measured_at": self.measured_at}


def manifest_digest(manifest_path: Path) -> str:
    return hashlib.sha256(Path(manifest_path).read_bytes()).hexdigest()


def tune(model: str | Path | None = None, input_size: int | tuple[int, int] | None = 640, precision: str = "fp32",
         threads: int | None = None, budget_s: float = DEFAULT_BUDGET_S, save: bool = True) -> TuneResult:
    """Time every installed backend with a ``precision`` file at ``input_size`` (``budget_s`` of timed calls in all,
    at least :data:`MIN_CALLS` each, interleaved so drift hits all alike), pick the fastest, and cache the ranking."""
    from .backends import BACKENDS
    from .detector import FaceDetector  # the detector reads this module's cache: import it late

    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    detectors: dict[str, FaceDetector] = {}
    candidates: dict[str, Candidate] = {}
    manifest_sha = None
    for name, spec in BACKENDS.items():
        if not spec.is_installed():
            candidates[name] = Candidate(name, "", None, 0, None, "not installed")
            continue
        start = time.perf_counter()
        try:
            detector = FaceDetector(model=model, backend=name, input_size=input_size, precision=precision,
                                    threads=threads)
        except EdgeSDKError as exc:
            candidates[name] = Candidate(name, "", None, 0, None, str(exc).split(":")[0])
            continue
        load_ms = (time.perf_counter() - start) * 1000
        detector.detect(frame)  # warm-up
        detectors[name] = detector
        manifest_sha = manifest_sha or manifest_digest(detector.manifest.directory / "manifest.json")
        candidates[name] = Candidate(name, detector.model_file.path.name, None, 0, round(load_ms, 1))
    times: dict[str, list[float]] = {name: [] for name in detectors}
    deadline = time.perf_counter() + budget_s
    while detectors and (time.perf_counter() < deadline or min(len(t) for t in times.values()) < MIN_CALLS):
        for name, detector in detectors.items():
            start = time.perf_counter()
            detector.detect(frame)
            times[name].append((time.perf_counter() - start) * 1000)
    for name, samples in times.items():
        c = candidates[name]
        candidates[name] = Candidate(c.backend, c.model_file, round(statistics.median(samples), 3), len(samples),
                                     c.load_ms)
    timed = [c for c in candidates.values() if c.median_ms is not None]
    choice = min(timed, key=lambda c: c.median_ms).backend if timed else None  # type: ignore[arg-type,return-value]
    size = None if input_size is None else (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    key = TuneKey.for_model(manifest_sha or "", precision, size, threads)  # type: ignore[arg-type]
    result = TuneResult(key, choice, tuple(candidates.values()), time.time())
    if save and choice is not None:
        save_result(result)
    return result


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
        log.warning("ignoring the backend-choice cache %s (%s: %s); run `edge-sdk tune` to rebuild it", path,
                    type(exc).__name__, exc)
        return []


def cached_entry(key: TuneKey) -> dict[str, Any] | None:
    """The cached tuning for exactly this key, or None."""
    digest = key.digest()
    for entry in _read_entries(cache_path()):
        if entry.get("key_digest") == digest and isinstance(entry.get("choice"), str):
            return entry
    return None


def cached_choice(manifest_path: Path, precision: str, input_size: tuple[int, int] | None,
                  threads: int | None) -> str | None:
    """The backend :func:`tune` found fastest for this machine, runtimes, model and settings, or None."""
    entry = cached_entry(TuneKey.for_model(manifest_digest(manifest_path), precision, input_size, threads))
    return None if entry is None else entry["choice"]
