"""Frame sources for the CLI and streams: image files, folders, video files, camera indices, RTSP/HTTP URLs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import InvalidArgumentError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class Source:
    kind: str  # "image", "folder", "video", "camera", "stream"
    target: str

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "camera", "stream")


def classify(target: str) -> Source:
    """What a CLI argument names: a camera index ("0"), a URL, a folder, a video file or an image file."""
    if target.isdigit():
        return Source("camera", target)
    if "://" in target:
        return Source("stream", target)
    path = Path(target)
    if path.is_dir():
        return Source("folder", target)
    if not path.exists():
        raise InvalidArgumentError(f"{target} does not exist (give an image, a folder, a video, a camera index or a URL)")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return Source("video", target)
    return Source("image", target)


def images_in(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def open_video(source: Source) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(int(source.target) if source.kind == "camera" else source.target)
    if not capture.isOpened():
        raise InvalidArgumentError(f"cannot open {source.kind} {source.target!r}")
    return capture


def video_frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame
