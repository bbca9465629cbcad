"""Latency: the configuration matrix, the interleaved timing harness and its summary statistics.

Every subject (ours per backend x precision x device x size x threads, and each peer) is timed on the same images.
Runs are *interleaved*: each round times every subject once per image, the subject order rotating from round to
round, so drift of a shared machine (other processes, thermal state, frequency) hits all subjects alike. Warm-up
rounds run first and are not recorded. Per call we record

* ``detect``: the user-facing call (our ``FaceDetector.detect``; a peer's public API), wall time;
* ``staged``: the same work as three calls — preprocess (letterbox + normalise), the bare backend call (the floor:
  the runtime alone on the same input), postprocess (decode + NMS + back to original pixels) — where the detector's
  code can be split (ours, the reference RetinaFace).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_sdk._version import install_hint

from .subjects import DEVICE_NAMES, SkipSubject, Subject, SubjectSpec, build_subject, row_identity, size_label
from .system import MemoryMeter, device_present, rss_mb

log = logging.getLogger(__name__)

STAGES = ("preprocess", "inference", "postprocess")


# ----------------------------------------------------------------------------------------------------- the plan


def skip_row(reason: str, **fields: Any) -> dict[str, Any]:
    return {**{k: v for k, v in fields.items() if v is not None}, "reason": reason}


def ours_plan(
    model: str | None,
    backends: Sequence[str],
    precisions: Sequence[str] | None,
    sizes: Sequence[int | None],
    threads: Sequence[int],
    devices: Sequence[str],
    device_rows: list[dict[str, Any]],
    purpose: str = "latency",
) -> tuple[list[SubjectSpec], list[dict[str, Any]]]:
    """Our configurations that can run here, and the ones that cannot (with the reason). Precisions default to
    every precision the model's manifest lists (an int8 file is picked up as soon as the manifest has one)."""
    from edge_sdk.backends import BACKENDS
    from edge_sdk.manifest import load_manifest
    from edge_sdk.models import resolve_model

    manifest = load_manifest(resolve_model(model)[0])
    specs: list[SubjectSpec] = []
    skipped: list[dict[str, Any]] = []
    for backend in backends:
        info = BACKENDS[backend]
        if not info.is_installed():
            skipped.append(
                skip_row(f"runtime not installed: {install_hint(info.extra)}", detector="ours", backend=backend)
            )
            continue
        files = [f for f in manifest.files if f.format in info.formats]
        if not files:
            skipped.append(
                skip_row(
                    f"model {manifest.name!r} has no {'/'.join(info.formats)} file "
                    f"(python -m export --formats {info.formats[0]} ...)",
                    detector="ours",
                    backend=backend,
                )
            )
            continue
        wanted = list(precisions) if precisions else sorted({f.precision for f in files})
        for device in devices:
            if device.lower() not in DEVICE_NAMES.get(backend, {}):
                skipped.append(
                    skip_row(f"{backend} has no {device} device", detector="ours", backend=backend, device=device)
                )
                continue
            runtime_device = DEVICE_NAMES[backend][device.lower()]
            present, detail = device_present(device_rows, backend, runtime_device)
            if not present:
                skipped.append(
                    skip_row(f"{device} not present ({detail})", detector="ours", backend=backend, device=device)
                )
                continue
            for precision in wanted:
                for size in sizes:
                    if manifest.select(info.formats, precision, None if size is None else (size, size)) is None:
                        kind = "dynamic-shape" if size is None else f"{size}x{size} or dynamic-shape"
                        skipped.append(
                            skip_row(
                                f"model lists no {precision} {info.formats[0]} file ({kind})",
                                detector="ours",
                                backend=backend,
                                precision=precision,
                                device=device,
                                size=size_label(size),
                            )
                        )
                        continue
                    specs += [SubjectSpec("ours", size, t, backend, precision, device, model, purpose) for t in threads]
    return specs, skipped


def peer_plan(
    peers: Sequence[str],
    sizes: Sequence[int | None],
    threads: Sequence[int],
    devices: Sequence[str],
    device_rows: list[dict[str, Any]] | None = None,
    purpose: str = "latency",
) -> tuple[list[SubjectSpec], list[dict[str, Any]]]:
    """Peer configurations: every requested size for peers that take any size (YuNet, the reference), their own
    input otherwise; one thread for single-threaded peers."""
    from .peers import PEERS, peer_status

    specs: list[SubjectSpec] = []
    skipped: list[dict[str, Any]] = []
    for name in peers:
        peer = PEERS[name]
        problem = peer_status(name)
        if problem:
            skipped.append(skip_row(problem, detector=name))
            continue
        for device in devices:
            if device.lower() not in peer.devices:
                skipped.append(
                    skip_row(
                        f"{name} has no {device} device (runs on {', '.join(peer.devices)})",
                        detector=name,
                        device=device,
                    )
                )
                continue
            if device.lower() != "cpu" and device_rows is not None:
                present, detail = device_present(device_rows, peer.accelerator_runtime or "", device)
                if not present:
                    skipped.append(skip_row(f"{device} not present ({detail})", detector=name, device=device))
                    continue
            for size in sizes if peer.any_size else [None]:
                for t in threads if peer.multi_threaded else [1]:
                    specs.append(SubjectSpec(name, size, t, device=device, purpose=purpose))
    return specs, skipped


def build_all(specs: Iterable[SubjectSpec]) -> tuple[list[Subject], list[dict[str, Any]], dict[str, float | None]]:
    """Build the subjects; those that fail to load become skipped rows. Also returns the RSS growth (MB) that
    loading each one caused in this process (runtime libraries count for the first subject that loads them)."""
    subjects: list[Subject] = []
    skipped: list[dict[str, Any]] = []
    load_mb: dict[str, float | None] = {}
    for spec in specs:
        before = rss_mb()
        try:
            subject = build_subject(spec)
        except SkipSubject as exc:
            log.warning("skip %s: %s", spec.key, exc)
            skipped.append(
                skip_row(
                    str(exc),
                    key=spec.key,
                    detector=spec.detector,
                    backend=spec.backend,
                    precision=spec.precision,
                    device=spec.device,
                    size=size_label(spec.size),
                )
            )
            continue
        after = rss_mb()
        load_mb[spec.key] = None if before is None or after is None else round(after - before, 1)
        subjects.append(subject)
    return subjects, skipped, load_mb


# ----------------------------------------------------------------------------------------------------- timing


@dataclass
class Samples:
    """Seconds per call of one subject, over all timed rounds and images."""

    detect: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    faces: list[int] = field(default_factory=list)
    working_peak_mb: float | None = None
    rounds: int = 0  # timed rounds this subject took part in


def _block(subject: Subject, images: Sequence[np.ndarray], record: Samples | None) -> float:
    """One subject over all images (detect, then the split calls); returns the seconds it took."""
    start = time.perf_counter()
    for image in images:
        t0 = time.perf_counter()
        faces = subject.detect(image)
        elapsed = time.perf_counter() - t0
        parts = subject.staged(image)
        if record is not None:
            record.detect.append(elapsed)
            record.faces.append(faces)
            if parts is not None:
                for name, value in zip(STAGES, parts):
                    record.stages[name].append(value)
    return time.perf_counter() - start


def measure(
    subjects: Sequence[Subject],
    images: Sequence[np.ndarray],
    runs: int,
    warmup: int,
    progress: bool = True,
    budget_s: float = 6.0,
    min_runs: int = 3,
    pause_s: float = 0.02,
) -> tuple[dict[str, Samples], float | None]:
    """Interleaved timing (see the module docstring). Returns samples per subject key and the process's peak RSS.

    ``budget_s`` caps the timed work per subject: one whose warm-up round shows that ``runs`` rounds would take
    longer gets ``max(min_runs, budget_s / round time)`` rounds (it still takes part in the first rounds, so it is
    interleaved with everything else); 0 disables the cap. ``pause_s`` is slept before each subject's block, so
    that the previous subject's runtime threads, which spin for a while after their last task, are idle.
    """
    from tqdm import tqdm

    meter = MemoryMeter()
    samples = {s.spec.key: Samples() for s in subjects}
    quota = {s.spec.key: runs for s in subjects}
    n = len(subjects)
    for r in tqdm(range(warmup + runs), desc="latency rounds", unit="round", disable=not progress):
        timed = r >= warmup
        order = [subjects[(i + r) % n] for i in range(n)]
        for subject in order:
            key = subject.spec.key
            record = samples[key]
            if timed and record.rounds >= quota[key]:
                continue
            subject.activate()
            time.sleep(pause_s)
            start_rss = meter.start()
            seconds = _block(subject, images, record if timed else None)
            if timed:
                record.rounds += 1
            elif budget_s > 0 and r == warmup - 1:
                quota[key] = min(runs, max(min_runs, int(budget_s / max(seconds, 1e-9))))
            peak = meter.peak_above(start_rss)
            if peak is not None:
                record.working_peak_mb = max(record.working_peak_mb or 0.0, peak)
    meter.start()
    return samples, meter.process_peak_mb


def stats_ms(seconds: Sequence[float]) -> dict[str, float] | None:
    """Median, p90, mean, min, max and inter-quartile range, in milliseconds (None for no samples)."""
    if not seconds:
        return None
    ms = np.asarray(seconds, np.float64) * 1000.0
    q1, median, q3, p90 = np.percentile(ms, [25, 50, 75, 90])
    return {
        "n": int(ms.size),
        "median": round(float(median), 3),
        "p90": round(float(p90), 3),
        "mean": round(float(ms.mean()), 3),
        "min": round(float(ms.min()), 3),
        "max": round(float(ms.max()), 3),
        "iqr": round(float(q3 - q1), 3),
    }


def summarize(
    subjects: Sequence[Subject],
    samples: dict[str, Samples],
    load_mb: dict[str, float | None],
) -> list[dict[str, Any]]:
    """One result row per subject (see the JSON schema in :mod:`benchmarks.schema`)."""
    rows = []
    for subject in subjects:
        spec, record = subject.spec, samples[subject.spec.key]
        detect = stats_ms(record.detect)
        stages = (
            {name: stats_ms(values) for name, values in record.stages.items()} if record.stages["inference"] else None
        )
        bare = stages["inference"] if stages else None
        rows.append(
            {
                **row_identity(subject),
                "device": spec.device,
                "spec": spec.to_dict(),
                "info": subject.info,
                "detect_ms": detect,
                "fps": round(1000.0 / detect["median"], 2) if detect and detect["median"] > 0 else None,
                "stages_ms": stages,
                "bare_backend_ms": bare,
                "overhead_ratio": round(detect["median"] / bare["median"], 3)
                if detect and bare and bare["median"] > 0
                else None,
                "faces_per_image": round(statistics.fmean(record.faces), 2) if record.faces else None,
                "timed_rounds": record.rounds,
                "memory": {
                    "load_mb": load_mb.get(spec.key),
                    "working_peak_mb": None if record.working_peak_mb is None else round(record.working_peak_mb, 1),
                    "process_peak_mb": None,
                },
            }
        )
    return rows


def read_images(paths: Sequence[Path]) -> list[np.ndarray]:
    import cv2

    images = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {path}")
        images.append(image)
    return images
