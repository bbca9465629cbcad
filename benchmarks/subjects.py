"""What is benchmarked: a :class:`SubjectSpec` (plain data: detector, backend, precision, device, size, threads,
purpose) and the :class:`Subject` built from it, which latency and accuracy drive through one interface:

* ``activate()`` — apply process-wide settings (OpenCV / OpenMP / torch threads) before a block of calls;
* ``detect(image) -> int`` — the call a user makes (our ``FaceDetector.detect``, a peer's public API), faces found;
* ``staged(image) -> (preprocess, inference, postprocess) seconds`` — the same work split in three, where the
  detector's code allows it (ours, the reference RetinaFace), else None;
* ``__call__(image) -> (boxes xyxy, scores)`` — :class:`evaluation.Detector`, for accuracy.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .peers import build_peer
from .subject_base import (
    RETINAFACE_THRESHOLDS,
    SkipSubject,
    Subject,
    SubjectSpec,
    set_opencv_threads,
    size_label,
)

# The shared pieces live in benchmarks.subject_base (so the peers need not import this module); they are part of
# this module's interface too.
__all__ = [
    "DEVICE_NAMES",
    "OursSubject",
    "SkipSubject",
    "Subject",
    "SubjectSpec",
    "all_threads",
    "build_subject",
    "row_identity",
    "set_opencv_threads",
    "size_label",
]

log = logging.getLogger(__name__)

# Generic device names (CLI) → the name each of our backends understands.
DEVICE_NAMES: dict[str, dict[str, str]] = {
    "onnxruntime": {"cpu": "cpu", "cuda": "cuda", "tensorrt": "tensorrt"},
    "openvino": {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"},
    "tflite": {"cpu": "CPU"},
}


def all_threads() -> int:
    """The "all" thread count: the cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass
class OursSubject:
    """``edge_sdk.FaceDetector`` with one backend, precision, device, input size and thread count."""

    spec: SubjectSpec
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from edge_sdk import EdgeSDKError, FaceDetector

        backend = self.spec.backend or "auto"
        names = DEVICE_NAMES.get(backend, {"cpu": "cpu"})
        if self.spec.device.lower() not in names:
            raise SkipSubject(f"backend {backend} has no device {self.spec.device!r} (it runs on {sorted(names)})")
        device = names[self.spec.device.lower()]
        thresholds = RETINAFACE_THRESHOLDS[self.spec.purpose]
        try:
            self.detector = FaceDetector(
                model=self.spec.model,
                backend=backend,
                input_size=self.spec.size,
                score_threshold=thresholds.score,
                nms_threshold=thresholds.nms,
                threads=self.spec.threads,
                precision=self.spec.precision or "fp32",
                device=None if device.lower() == "cpu" else device,
            )
        except EdgeSDKError as exc:
            raise SkipSubject(f"{type(exc).__name__}: {exc}") from exc
        file = self.detector.model_file
        self.info = {
            "label": f"ours ({self.detector.backend_name}"
            + ("" if file.precision == "fp32" else f", {file.precision}")
            + ")",
            "model_file": file.path.name,
            "model_bytes": sum(p.stat().st_size for p in (file.path, *file.extra_files)),
            "model_input": "dynamic" if file.dynamic else f"{file.input_size[0]}x{file.input_size[1]}",
            "runtime": self.detector.backend.describe(),
            "score_threshold": self.detector.score_threshold,
            "breakdown": True,
        }

    def activate(self) -> None:
        set_opencv_threads(self.spec.threads)

    def detect(self, image: np.ndarray) -> int:
        return len(self.detector.detect(image))

    def staged(self, image: np.ndarray) -> tuple[float, float, float]:
        """``detect()`` as its three calls: letterbox into the backend's input (its reused buffer, as ``detect`` does),
        the bare backend call, decode + NMS."""
        t0 = time.perf_counter()
        tensor, box = self.detector.preprocess(image, reuse=True)
        t1 = time.perf_counter()
        raw = self.detector.run_backend(tensor)
        t2 = time.perf_counter()
        self.detector.postprocess(raw, box)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        faces = self.detector.detect(image)
        return np.asarray(faces.boxes, np.float32).reshape(-1, 4), np.asarray(faces.scores, np.float32).reshape(-1)


def build_subject(spec: SubjectSpec) -> Subject:
    """The runnable subject for ``spec``; raises :class:`SkipSubject` (with the reason) when it cannot run here."""
    if spec.detector == "ours":
        return OursSubject(spec)
    return build_peer(spec)


def row_identity(subject: Subject) -> dict[str, Any]:
    """The fields that name a subject in every result row (latency and accuracy alike)."""
    spec = subject.spec
    return {
        "key": spec.key,
        "detector": spec.detector,
        "label": subject.info.get("label", spec.detector),
        "backend": spec.backend,
        "precision": spec.precision,
        "input_size": size_label(spec.size)
        if spec.size is not None or spec.detector == "ours"
        else subject.info.get("native_input", "original"),
        "size": spec.size,
        "threads": spec.threads,
    }
