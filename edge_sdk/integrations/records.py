"""What the services (HTTP, MQTT, Ray Data) share: the detector the command line asked for, per-request threshold
overrides, and one detection turned into the versioned record of :mod:`edge_sdk.records`."""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import numpy as np

from ..detections import Detections
from ..detector import FaceDetector
from ..errors import InvalidArgumentError
from ..records import FrameInfo, detection_record


def detector_from_args(args: argparse.Namespace, max_pixels: int | None = None) -> FaceDetector:
    """The detector the ``detect`` / ``serve`` / ``mqtt`` subcommands were asked for."""
    extra = {} if max_pixels is None else {"max_pixels": max_pixels}
    return FaceDetector(
        model=args.model,
        backend=args.backend,
        input_size=args.input_size,
        score_threshold=args.score_threshold,
        nms_threshold=args.nms_threshold,
        max_faces=args.max_faces,
        threads=args.threads,
        precision=args.precision,
        device=getattr(args, "device", None),
        **extra,
    )


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
    detector: FaceDetector,
    image: np.ndarray,
    name: str | None,
    rgb: bool = False,
    received_at: float | None = None,
    **fields: Any,
) -> tuple[Detections, dict]:
    """Detect faces in a decoded image; returns the detections and its record (:mod:`edge_sdk.records`).
    ``received_at``: when the image arrived (epoch seconds; default now); ``fields``: optional record keys."""
    received = time.time() if received_at is None else received_at
    start = time.perf_counter()
    detections = detector.detect(image, rgb=rgb)
    elapsed_ms = (time.perf_counter() - start) * 1000
    record = detection_record(
        detector,
        detections,
        FrameInfo(image=name, timestamp=received),
        int(image.shape[1]),
        int(image.shape[0]),
        elapsed_ms,
        **fields,
    )
    return detections, record


def example_record(detector: FaceDetector) -> dict:
    """A record with one (zero) face and a value in every optional field: every key and nested type of the schema,
    e.g. to derive a table schema (a null would leave a column's type unknown)."""
    one = Detections(
        np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.zeros((1, 5, 2), np.float32), np.ones(1, np.int64)
    )
    info = FrameInfo(image="", timestamp=0.0, frame=0, media_time_ms=0.0)
    record = detection_record(detector, one, info, 1, 1, 0.0)
    record["input_size"] = record["input_size"] or [32, 32]
    return record
