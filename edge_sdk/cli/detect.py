"""``edge-sdk detect SOURCE``: an image, a folder (recursive), a video file, a camera index or a stream URL → one
versioned record per image or frame (:mod:`edge_sdk.records`) and, unless ``--save none``, pictures or a video."""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..detector import FaceDetector
from ..errors import InvalidImageError, OutputError
from ..image import load_image
from ..records import FrameInfo, detection_record, error_record
from ..sources import ReconnectPolicy, Source, VideoSource, classify, list_folder
from ..tracking import TrackerConfig
from .errors import EXIT_OK, EXIT_SOME_INPUTS_FAILED
from .outputs import RecordSink, VideoSink, ensure_folder, render, write_bytes, write_picture

T = TypeVar("T")
log = logging.getLogger("edge_sdk.cli")


def run_detect(args: argparse.Namespace) -> int:
    source = classify(str(args.source))
    from ..integrations.records import detector_from_args

    detector = detector_from_args(args, max_pixels=args.max_pixels)
    if source.kind == "image":
        return detect_image(detector, Path(source.target), args)
    if source.kind == "folder":
        return detect_folder(detector, Path(source.target), args)
    return detect_video(detector, source, args)


def _say(args: argparse.Namespace, message: str) -> None:
    """A human summary: stdout normally, stderr with ``--json`` (stdout then carries records only)."""
    print(message, file=sys.stderr if args.json else sys.stdout)


def _progress(items: Iterable[T], total: int | None, unit: str) -> Iterator[T]:
    """A tqdm bar on stderr when tqdm is installed and stderr is a terminal; plain iteration otherwise."""
    try:
        from tqdm import tqdm
    except ImportError:
        return iter(items)
    return iter(tqdm(items, total=total, unit=unit, file=sys.stderr, disable=None))


def detect_image(detector: FaceDetector, path: Path, args: argparse.Namespace) -> int:
    received = time.time()
    image = load_image(path, args.max_pixels)
    start = time.perf_counter()
    detections = detector.detect(image)
    elapsed_ms = (time.perf_counter() - start) * 1000
    record = detection_record(
        detector, detections, FrameInfo(image=str(path), timestamp=received), image.shape[1], image.shape[0], elapsed_ms
    )
    written: list[Path] = []
    if args.save != "none":
        written.append(
            write_picture(ensure_folder(args.out) / f"{path.stem}_faces.png", render(image, detections, args.save))
        )
    if args.json:
        RecordSink(None).write(record)
    else:
        json_path = ensure_folder(args.out) / f"{path.stem}_faces.json"
        write_bytes(json_path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        written.append(json_path)
    where = f" → {', '.join(map(str, written))}" if written else ""
    _say(args, f"{len(detections)} face(s) in {path} ({elapsed_ms:.1f} ms, {detector.backend_name}){where}")
    return EXIT_OK


def detect_folder(detector: FaceDetector, folder: Path, args: argparse.Namespace) -> int:
    """Every image under ``folder``: a record per image (an error record for each unreadable or skipped one; the
    run goes on), pictures mirroring the folder tree in each input's own format. ``--batch-size B`` sends B images
    through one ``detect_batch`` call (each record's latency is its share of the batch)."""
    listing = list_folder(folder)
    sink = RecordSink(None if args.json else ensure_folder(args.out) / "detections.jsonl")
    failures = faces = 0
    with sink:
        for path, reason in listing.skipped:
            failures += 1
            sink.write(
                error_record(FrameInfo(image=_relative(path, folder), timestamp=time.time()), reason, "SkippedEntry")
            )
        progress = _progress(listing.images, len(listing.images), "img")
        for chunk in _chunks(listing.images, args.batch_size):
            loaded: list[tuple[str, float, np.ndarray, Path]] = []
            for path in chunk:
                next(progress, None)
                received = time.time()
                try:
                    loaded.append((_relative(path, folder), received, load_image(path, args.max_pixels), path))
                except (InvalidImageError, OSError) as exc:
                    failures += 1
                    sink.write(error_record(FrameInfo(image=_relative(path, folder), timestamp=received), exc))
            if not loaded:
                continue
            start = time.perf_counter()
            results = detector.detect_batch([image for _, _, image, _ in loaded])
            share_ms = (time.perf_counter() - start) * 1000 / len(loaded)
            for (relative, received, image, path), detections in zip(loaded, results):
                faces += len(detections)
                if args.save != "none":
                    target = args.out / relative
                    if target.resolve() == path.resolve():
                        raise OutputError(f"{target} is the input image itself: pick another --out")
                    write_picture(target, render(image, detections, args.save))
                extra = {"batch_size": len(loaded)} if args.batch_size > 1 else {}
                sink.write(
                    detection_record(
                        detector,
                        detections,
                        FrameInfo(image=relative, timestamp=received),
                        image.shape[1],
                        image.shape[0],
                        share_ms,
                        **extra,
                    )
                )
        for _ in progress:  # close the progress bar
            pass
    where = "stdout" if args.json else f"{args.out}, {sink.path}"
    _say(args, f"{len(listing.images)} image(s), {faces} face(s), {failures} unreadable or skipped → {where}")
    return EXIT_OK if failures == 0 else EXIT_SOME_INPUTS_FAILED


def detect_video(detector: FaceDetector, source: Source, args: argparse.Namespace) -> int:
    """A video file, camera or stream: a record per frame (frame index, timestamps, reconnections), an annotated
    MP4 unless ``--save none``. Live sources reconnect with backoff (``--reconnect-attempts``)."""
    policy = ReconnectPolicy(max_attempts=args.reconnect_attempts)
    video = VideoSource(source, policy)
    stem = Path(source.target).stem if source.kind == "video" else source.kind
    frames: Iterable = video if args.max_frames is None else itertools.islice(video, args.max_frames)
    total = video.frame_count if args.max_frames is None else min(video.frame_count or args.max_frames, args.max_frames)
    out_video = None if args.save == "none" else VideoSink(ensure_folder(args.out) / f"{stem}_faces.mp4", video.fps)
    sink = RecordSink(None if args.json else ensure_folder(args.out) / f"{stem}_faces.jsonl")
    tracker = TrackerConfig(hold_frames=args.hold_frames) if args.track else None
    count = faces = 0
    try:
        with sink:
            items = detector.stream(frames, every=args.every, batch_size=args.batch_size, tracker=tracker)
            for item in _progress(items, total, "frame"):
                frame, detections = item
                if out_video is not None:
                    out_video.write(render(frame, detections, args.save))
                info = FrameInfo(
                    image=source.target,
                    timestamp=item.timestamp,
                    frame=item.index,
                    media_time_ms=item.media_time_ms,
                    reconnects=item.reconnects if source.is_live else None,
                )
                sink.write(
                    detection_record(detector, detections, info, frame.shape[1], frame.shape[0], item.latency_ms)
                )
                count += 1
                faces += len(detections)
    finally:
        video.release()
        if out_video is not None:
            out_video.close()
    outputs = [str(p) for p in ((out_video.path if out_video else None), (sink.path if not args.json else None)) if p]
    _say(args, f"{count} frame(s), {faces} face(s){' → ' + ', '.join(outputs) if outputs else ''}")
    if video.gave_up:
        print(
            f"error: {source.kind} {source.target} lost: gave up after {policy.max_attempts} reconnection "
            "attempts in a row",
            file=sys.stderr,
        )
        return EXIT_SOME_INPUTS_FAILED
    return EXIT_OK


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
