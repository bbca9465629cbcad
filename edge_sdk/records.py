"""The detection record: the one versioned JSON object every producer of the SDK prints per image or frame — the CLI
(image, folder, video, camera, stream), POST /detect, the MQTT bridge and Ray Data — and firmware parses.

Its JSON Schema ships in the package (:func:`schema`, ``edge_sdk/schemas/detection_record.schema.json``) and is
documented in docs/MODEL_CONTRACT.md §8. A record is either a detection (``faces``) or an error (``error``)::

    {"schema_version": 1, "image": "photo.jpg", "frame": null, "timestamp": "2026-12-04T15:19:14.123Z",
     "media_time_ms": null, "width": 1024, "height": 768, "model": "retinaface_mnet025",
     "model_file": "retinaface_mnet025_640x640.onnx", "model_sha256": "…", "precision": "fp32",
     "input_size": [640, 640], "backend": "onnxruntime", "latency_ms": 21.3,
     "faces": [{"box": [x1, y1, x2, y2], "score": 0.99871, "landmarks": {"left_eye": [x, y], …}, "track_id": null}]}
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .detections import Detections

if TYPE_CHECKING:  # the detector module imports backends; records only needs its attributes
    from .detector import FaceDetector

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "detection_record.schema.json"


@dataclass(frozen=True)
class FrameInfo:
    """Where an image came from and when: ``image`` (path, upload name, topic or source), ``frame`` (index in a
    stream, None for stills), ``timestamp`` (UTC wall clock, epoch seconds), ``media_time_ms`` (video PTS, or ms
    since a live source opened), ``reconnects`` (live sources: reconnections so far)."""

    image: str | None
    timestamp: float
    frame: int | None = None
    media_time_ms: float | None = None
    reconnects: int | None = None


def utc_iso(epoch_seconds: float) -> str:
    """``2026-12-04T15:19:14.123Z``: the record's timestamp format (UTC, milliseconds)."""
    moment = _dt.datetime.fromtimestamp(epoch_seconds, tz=_dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _common(info: FrameInfo) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "image": info.image,
        "frame": info.frame,
        "timestamp": utc_iso(info.timestamp),
        "media_time_ms": None if info.media_time_ms is None else round(float(info.media_time_ms), 3),
    }
    if info.reconnects is not None:
        fields["reconnects"] = int(info.reconnects)
    return fields


def detection_record(
    detector: FaceDetector,
    detections: Detections,
    info: FrameInfo,
    width: int,
    height: int,
    latency_ms: float,
    **extra: Any,
) -> dict[str, Any]:
    """The record of one image's faces (``extra``: optional schema keys such as ``batch_size``)."""
    model_file = detector.model_file
    size = detector.input_size
    return {
        **_common(info),
        "width": int(width),
        "height": int(height),
        "model": detector.manifest.name,
        "model_file": model_file.path.name,
        "model_sha256": model_file.sha256,
        "precision": model_file.precision,
        "input_size": None if size is None else [int(size[0]), int(size[1])],
        "backend": detector.backend_name,
        "latency_ms": round(float(latency_ms), 3),
        **extra,
        "faces": detections.to_dicts(),
    }


def error_record(info: FrameInfo, error: BaseException | str, error_type: str | None = None) -> dict[str, Any]:
    """The record of an image that could not be processed (a folder run's unreadable file, a bad frame)."""
    kind = error_type or (type(error).__name__ if isinstance(error, BaseException) else "Error")
    return {**_common(info), "error": {"type": kind, "message": str(error)}}


def to_json(record: dict[str, Any]) -> str:
    """One line of JSON (for JSONL files, stdout and message payloads)."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The record's JSON Schema (draft 2020-12), as shipped in the package."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
