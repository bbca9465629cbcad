"""One detection → the CLI's JSON record (``edge_sdk.cli._record``: the single definition of the schema)."""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import numpy as np

from ..cli import _record
from ..detections import Detections
from ..detector import FaceDetector
from ..errors import InvalidArgumentError


def detector_from_args(args: argparse.Namespace, max_pixels: int | None = None) -> FaceDetector:
    """The detector the ``detect`` / ``serve`` / ``mqtt`` subcommands were asked for."""
    extra = {} if max_pixels is None else {"max_pixels": max_pixels}
    return FaceDetector(model=args.model, backend=args.backend, input_size=args.input_size,
                        score_threshold=args.score_threshold, nms_threshold=args.nms_threshold,
                        max_faces=args.max_faces, threads=args.threads, precision=args.precision,
                        device=getattr(args, "device", None), **extra)


def with_overrides(
    detector: FaceDetector,
    score_threshold: float | None = None,
    nms_threshold: float | None = None,
    max_faces: int | None = None,
) -> FaceDetector:
    """The same detector (shared backend, priors and locks) with other post-processing thresholds.

    A shallow copy: safe to use concurrently with the original, nothing is reloaded.
    """
    if score_threshold is None and nms_threshold is None and max_faces is None:
        return detector
    for name, value in (("score_threshold", score_threshold), ("nms_threshold", nms_threshold)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise InvalidArgumentError(f"{name} must be in [0, 1], got {value!r}")
    if max_faces is not None and max_faces < 1:
        raise InvalidArgumentError(f"max_faces must be >= 1, got {max_faces!r}")
    view = copy.copy(detector)
    if score_threshold is not None:
        view.score_threshold = float(score_threshold)
    if nms_threshold is not None:
        view.nms_threshold = float(nms_threshold)
    if max_faces is not None:
        view.max_faces = int(max_faces)
    return view


def detect_record(
    detector: FaceDetector, image: np.ndarray, name: str | None, rgb: bool = False, **fields: Any
) -> tuple[Detections, dict]:
    """Detect faces in a decoded image; returns the detections and the CLI JSON record
    (image, width, height, ``fields``, then model, backend, latency_ms, faces)."""
    start = time.perf_counter()
    detections = detector.detect(image, rgb=rgb)
    elapsed_ms = (time.perf_counter() - start) * 1000
    record = _record(detector, detections, elapsed_ms, image=name, width=int(image.shape[1]),
                     height=int(image.shape[0]), **fields)
    return detections, record


def example_record(detector: FaceDetector) -> dict:
    """A record with one (zero) face: every key and nested type of the schema, e.g. to derive a table schema."""
    one = Detections(np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.zeros((1, 5, 2), np.float32))
    return _record(detector, one, 0.0, image="", width=0, height=0)
