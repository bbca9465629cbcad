"""Where ``edge-sdk detect`` puts its results: records (JSON to stdout, a JSON file, JSON lines) and pictures
(annotated, blurred, pixelated, or none). Every write either succeeds or raises :class:`OutputError`: a result is never
lost silently."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from ..detections import Detections
from ..draw import draw_detections
from ..errors import OutputError
from ..privacy import anonymize_faces
from ..records import to_json

SAVE_MODES = ("annotated", "blurred", "pixelated", "none")


def render(image: np.ndarray, detections: Detections, save: str) -> np.ndarray:
    """The picture a save mode writes."""
    if save == "blurred":
        return anonymize_faces(image, detections, mode="blur")
    if save == "pixelated":
        return anonymize_faces(image, detections, mode="pixelate")
    return draw_detections(image, detections)


def ensure_folder(folder: Path) -> Path:
    """Create ``folder`` (and parents); an :class:`OutputError` naming the problem if that is impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {folder}: {exc.strerror or exc}") from exc
    if not folder.is_dir():
        raise OutputError(f"the output folder {folder} is not a folder")
    return folder


def write_bytes(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_picture(path: Path, image: np.ndarray) -> Path:
    """Encode by ``path``'s suffix and write; OpenCV's silent ``imwrite`` failures become :class:`OutputError`."""
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", image)
    except cv2.error as exc:
        raise OutputError(f"cannot encode {path.name}: {exc}") from exc
    if not ok:
        raise OutputError(f"cannot encode {path.name} as {path.suffix}")
    ensure_folder(path.parent)
    write_bytes(path, encoded.tobytes())
    return path


class RecordSink:
    """Records, one JSON object per line, to stdout (``--json``) or a file; flushed per record so a consumer
    reading a pipe or tailing the file sees each frame as it is done."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stream: IO[str]
        if path is None:
            self._stream = sys.stdout
        else:
            ensure_folder(path.parent)
            try:
                self._stream = open(path, "w", encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def write(self, record: dict[str, Any]) -> None:
        try:
            self._stream.write(to_json(record) + "\n")
            self._stream.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path or 'stdout'}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        if self.path is not None:
            try:
                self._stream.close()
            except OSError as exc:
                raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc

    def __enter__(self) -> RecordSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoSink:
    """An MP4 of rendered frames, opened on the first frame (its size); a writer OpenCV cannot open is an error."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self._writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            ensure_folder(self.path.parent)
            self._writer = cv2.VideoWriter(
                str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (frame.shape[1], frame.shape[0])
            )
            if not self._writer.isOpened():
                raise OutputError(f"cannot write the video {self.path}")
        self._writer.write(frame)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
