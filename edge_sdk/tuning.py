"""``backend="auto"`` by measurement: :func:`tune` times each installed backend on this machine and caches the
fastest (:mod:`edge_sdk.backend_choice` holds the cache, its key and how ``FaceDetector`` reads it)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from .backend_choice import (
    CACHE_FILE,
    Candidate,
    TuneKey,
    TuneResult,
    cache_path,
    cached_choice,
    cached_entry,
    manifest_digest,
    save_result,
)
from .backends import BACKENDS
from .cache import CACHE_ENV
from .detector import FaceDetector
from .errors import EdgeSDKError

DEFAULT_BUDGET_S = 2.0  # timed detect() calls per tuning, all candidates together
MIN_CALLS = 5

__all__ = [
    "CACHE_ENV",
    "CACHE_FILE",
    "DEFAULT_BUDGET_S",
    "MIN_CALLS",
    "Candidate",
    "TuneKey",
    "TuneResult",
    "cache_path",
    "cached_choice",
    "cached_entry",
    "manifest_digest",
    "save_result",
    "tune",
]


def tune(
    model: str | Path | None = None,
    input_size: int | tuple[int, int] | None = 640,
    precision: str = "fp32",
    threads: int | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    save: bool = True,
) -> TuneResult:
    """Time every installed backend with a ``precision`` file at ``input_size`` (``budget_s`` of timed calls in all,
    at least :data:`MIN_CALLS` each, interleaved so drift hits all alike), pick the fastest, and cache the ranking."""
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
            detector = FaceDetector(
                model=model, backend=name, input_size=input_size, precision=precision, threads=threads
            )
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
        candidates[name] = Candidate(
            c.backend, c.model_file, round(statistics.median(samples), 3), len(samples), c.load_ms
        )
    timed = [c for c in candidates.values() if c.median_ms is not None]
    choice = min(timed, key=lambda c: c.median_ms).backend if timed else None  # type: ignore[arg-type,return-value]
    size = (
        None if input_size is None else (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    )
    key = TuneKey.for_model(manifest_sha or "", precision, size, threads)  # type: ignore[arg-type]
    result = TuneResult(key, choice, tuple(candidates.values()), time.time())
    if save and choice is not None:
        save_result(result)
    return result
