"""Frame sources for the CLI and streams: image files, folders, video files, camera indices, RTSP/HTTP URLs.

Video-like sources are read through :class:`VideoSource`, which stamps every frame with its index, the UTC wall
clock when it was read, and its media time (the container's presentation time for files; milliseconds since the
source opened for cameras and streams). A live source (camera, URL) whose read fails is reopened with exponential
backoff, a bounded number of times in a row; a file ends at its first failed read.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from .errors import InvalidArgumentError, SourceError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class Source:
    kind: str  # "image", "folder", "video", "camera", "stream"
    target: str

    @property
    def is_video(self) -> bool:
        return self.kind in ("video", "camera", "stream")

    @property
    def is_live(self) -> bool:
        return self.kind in ("camera", "stream")


@dataclass(frozen=True)
class Frame:
    """One frame of a video-like source: the BGR image and when it was taken."""

    image: np.ndarray
    index: int
    timestamp: float  # UTC wall clock when read (epoch seconds)
    media_time_ms: float | None = None
    reconnects: int = 0


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
        raise InvalidArgumentError(
            f"{target} does not exist (give an image, a folder, a video, a camera index or a URL)"
        )
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return Source("video", target)
    return Source("image", target)


@dataclass
class FolderListing:
    """Image files under a folder, and what was passed over (dangling links, FIFOs and other non-files, links to
    folders, unreadable folders), each with the reason."""

    images: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def list_folder(folder: Path) -> FolderListing:
    """Image files below ``folder`` (recursive, sorted). Symbolic links to files are followed; links to folders are
    not (so no loops); anything with an image suffix that is not a readable regular file is listed as skipped."""
    listing = FolderListing()

    def on_error(exc: OSError) -> None:
        listing.skipped.append((Path(exc.filename or folder), f"unreadable folder: {exc.strerror or exc}"))

    for root, dirs, files in os.walk(folder, onerror=on_error, followlinks=False):
        base = Path(root)
        for name in dirs:
            if (base / name).is_symlink():
                listing.skipped.append((base / name, "symbolic link to a folder (not followed)"))
        for name in files:
            path = base / name
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            reason = _not_a_file_reason(path)
            if reason:
                listing.skipped.append((path, reason))
            else:
                listing.images.append(path)
    listing.images.sort()
    listing.skipped.sort()
    return listing


def _not_a_file_reason(path: Path) -> str | None:
    try:
        mode = os.stat(path).st_mode  # follows links
    except FileNotFoundError:
        return "dangling symbolic link"
    except OSError as exc:
        return "symbolic link loop" if "loop" in str(exc).lower() else f"cannot stat: {exc.strerror or exc}"
    if stat.S_ISFIFO(mode):
        return "FIFO (named pipe), not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def images_in(folder: Path) -> list[Path]:
    """Image files below ``folder`` (recursive), sorted (see :func:`list_folder` for what is skipped)."""
    return list_folder(folder).images


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a :class:`VideoSource` uses (tests script their own)."""

    def isOpened(self) -> bool: ...  # noqa: N802,E704

    def read(self) -> tuple[bool, Any]: ...  # noqa: E704

    def get(self, prop: int) -> float: ...  # noqa: E704

    def release(self) -> None: ...  # noqa: E704


@dataclass(frozen=True)
class ReconnectPolicy:
    """Live sources: after a failed read, reopen after ``initial_delay_s``, doubling up to ``max_delay_s``; give up
    after ``max_attempts`` reopenings in a row without a frame (a frame read resets the count)."""

    max_attempts: int = 5
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 0:
            raise InvalidArgumentError(f"max_attempts must be an int >= 0, got {self.max_attempts!r}")
        if not 0 <= self.initial_delay_s <= self.max_delay_s:
            raise InvalidArgumentError("reconnect delays need 0 <= initial_delay_s <= max_delay_s")

    def delay(self, failures_in_row: int) -> float:
        return min(self.initial_delay_s * 2**failures_in_row, self.max_delay_s)


def _open_capture(source: Source) -> Capture:
    return cv2.VideoCapture(int(source.target) if source.kind == "camera" else source.target)


class VideoSource:
    """Frames of a video file, camera or stream, stamped (see the module docstring); live sources reconnect.

    ``opener`` makes a capture for the source (default: ``cv2.VideoCapture``); ``sleep`` waits between reconnection
    attempts (replaceable in tests). ``reconnects`` counts the successful reopenings so far.
    """

    def __init__(
        self,
        source: Source,
        policy: ReconnectPolicy | None = None,
        opener: Callable[[Source], Capture] = _open_capture,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not source.is_video:
            raise InvalidArgumentError(f"{source.kind} {source.target!r} is not a video, camera or stream")
        self.source = source
        self.policy = policy or ReconnectPolicy()
        self._opener, self._sleep, self._clock = opener, sleep, clock
        self.reconnects = 0
        self.gave_up = False
        self.capture = self._opener(source)
        if not self.capture.isOpened():
            raise SourceError(f"cannot open {source.kind} {source.target!r}")
        self._opened_at = time.monotonic()

    @property
    def fps(self) -> float:
        return float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0

    @property
    def frame_count(self) -> int | None:
        if self.source.is_live:
            return None
        return int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None

    def __iter__(self) -> Iterator[Frame]:
        index, failures_in_row = 0, 0
        while True:
            ok, image = self.capture.read()
            if not ok or image is None:
                if not self.source.is_live:
                    return
                if failures_in_row >= self.policy.max_attempts:
                    self.gave_up = True
                    log.error(
                        "%s %s: gave up after %d reconnection attempts in a row",
                        self.source.kind,
                        self.source.target,
                        failures_in_row,
                    )
                    return
                failures_in_row += 1
                self._reopen(self.policy.delay(failures_in_row - 1), failures_in_row)
                continue
            failures_in_row = 0
            if self.source.is_live:
                media_ms: float | None = (time.monotonic() - self._opened_at) * 1000
            else:
                media_ms = float(self.capture.get(cv2.CAP_PROP_POS_MSEC))
            yield Frame(
                image=image, index=index, timestamp=self._clock(), media_time_ms=media_ms, reconnects=self.reconnects
            )
            index += 1

    def _reopen(self, delay: float, attempt: int) -> None:
        log.warning(
            "%s %s: read failed, reconnecting in %.1f s (attempt %d of %d)",
            self.source.kind,
            self.source.target,
            delay,
            attempt,
            self.policy.max_attempts,
        )
        self._sleep(delay)
        self.capture.release()
        self.capture = self._opener(self.source)
        if self.capture.isOpened():
            self.reconnects += 1

    def release(self) -> None:
        self.capture.release()


def open_video(source: Source) -> cv2.VideoCapture:
    """A plain ``cv2.VideoCapture`` for the source (no stamps, no reconnection; see :class:`VideoSource`)."""
    capture = cv2.VideoCapture(int(source.target) if source.kind == "camera" else source.target)
    if not capture.isOpened():
        raise SourceError(f"cannot open {source.kind} {source.target!r}")
    return capture


def video_frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """The frames of a capture until its first failed read."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame
