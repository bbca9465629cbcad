"""Helpers shared by the integration tests (HTTP, MQTT, Ray, C++): binaries, ports, real images, face matching."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from edge_sdk.detections import Detections
from edge_sdk.nms import pairwise_iou

from .conftest import IN_CI, data_root

#: real WIDER FACE val images with 7, 5 and 1 faces (at the default 640 input)
WIDER_IMAGES = (
    "0--Parade/0_Parade_Parade_0_443.jpg",
    "30--Surgeons/30_Surgeons_Surgeons_30_343.jpg",
    "13--Interview/13_Interview_Interview_On_Location_13_190.jpg",
)
RECORD_KEYS = {"schema_version", "image", "frame", "timestamp", "media_time_ms", "width", "height", "model", "model_file",
               "model_sha256", "precision", "input_size", "backend", "latency_ms", "faces"}


def require_binary(name: str, why: str) -> str:
    """Path of an executable, or skip (outside CI) / fail (in CI, where .ci/run installs it)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")  # mosquitto is in sbin
    if path is None:
        if IN_CI:
            raise RuntimeError(f"{name} is required in CI ({why}) but is not on PATH")
        pytest.skip(f"{name} not found on PATH ({why})")
    return path


def real_images() -> list[Path]:
    root = data_root() / "widerface" / "WIDER_val" / "images"
    paths = [root / name for name in WIDER_IMAGES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        if IN_CI:
            raise RuntimeError(f"missing WIDER val images: {missing}")
        pytest.skip(f"missing WIDER val images: {missing}")
    return paths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def assert_same_faces(expected: Detections, faces: list[dict], min_iou: float = 0.99, score_tol: float = 1e-3) -> None:
    """``faces`` (JSON records' faces) are ``expected``'s faces: same count, each box matched with IoU >= min_iou."""
    assert len(faces) == len(expected), (len(faces), len(expected))
    if not faces:
        return
    boxes = np.array([f["box"] for f in faces], np.float32)
    scores = np.array([f["score"] for f in faces], np.float32)
    iou = pairwise_iou(expected.boxes, boxes)
    best = iou.argmax(axis=1)
    assert iou.max(axis=1).min() >= min_iou, iou.max(axis=1)
    assert len(set(best.tolist())) == len(faces), "two expected faces matched the same returned face"
    np.testing.assert_allclose(scores[best], expected.scores, atol=score_tol)
