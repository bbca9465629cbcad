"""What every benchmark subject shares, ours and the peers alike: the :class:`SubjectSpec` that names it, the
:class:`Subject` interface latency and accuracy drive, :class:`SkipSubject`, and the settings both kinds apply.

It sits below :mod:`benchmarks.subjects` (ours, and the builder that picks ours or a peer) and
:mod:`benchmarks.peers` (the peer adapters), so those two import it and not each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from evaluation.defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD


class Thresholds(NamedTuple):
    """A detector's score and NMS IoU thresholds."""

    score: float
    nms: float


# The thresholds of the two RetinaFace subjects (ours and the reference: the same weights), by purpose. Latency runs
# at the deployment operating point (the runtime's defaults); accuracy at the evaluation's (evaluation.defaults),
# whose low score threshold keeps the low-scoring boxes that trace the precision/recall curve.
RETINAFACE_THRESHOLDS: dict[str, Thresholds] = {
    "latency": Thresholds(score=0.5, nms=0.4),
    "accuracy": Thresholds(score=EVAL_SCORE_THRESHOLD, nms=EVAL_NMS_THRESHOLD),
}


def size_label(size: int | None) -> str:
    return "original" if size is None else str(size)


@dataclass(frozen=True)
class SubjectSpec:
    """One configuration to measure. ``size``: letterbox side, None for the image's own size (or, for peers with a
    fixed network input, their native size: see the peer's description)."""

    detector: str  # "ours" or a peer name (benchmarks.peers.PEERS)
    size: int | None
    threads: int | None
    backend: str | None = None  # ours only
    precision: str | None = None  # ours only
    device: str = "cpu"
    model: str | None = None  # ours only: bundled name, directory or file (None: bundled default)
    purpose: str = "latency"  # "latency" (operating thresholds) or "accuracy" (low thresholds)

    @property
    def key(self) -> str:
        parts = [self.detector]
        if self.backend:
            parts += [self.backend, self.precision or "fp32"]
        parts += [self.device, size_label(self.size), f"t{self.threads or 'default'}"]
        return "/".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubjectSpec:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class Subject(Protocol):
    spec: SubjectSpec
    info: dict[str, Any]

    def activate(self) -> None: ...

    def detect(self, image: np.ndarray) -> int: ...

    def staged(self, image: np.ndarray) -> tuple[float, float, float] | None: ...

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class SkipSubject(Exception):
    """A configuration that cannot run here (no model file, runtime or device missing); the message says why."""


def set_opencv_threads(threads: int | None) -> None:
    """OpenCV's own thread pool (resize, colour conversion, cascades) follows the subject's thread count."""
    import cv2

    cv2.setNumThreads(int(threads) if threads else -1)
