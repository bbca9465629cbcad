"""Command line: ``edge-sdk detect SOURCE``, ``edge-sdk info``, ``edge-sdk bench``.

SOURCE is an image, a folder (recursive), a video file, a camera index ("0") or a stream URL (rtsp://...).
Exit codes: 0 success, 1 a folder run finished but some images were unreadable (listed in its JSONL), 2 usage or
input error (message on stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

import cv2
import numpy as np

from . import __version__
from .backends import BACKENDS, available_backends
from .detections import Detections
from .detector import FaceDetector
from .draw import draw_detections
from .errors import EdgeSDKError, InvalidImageError
from .manifest import load_manifest
from .models import BUNDLED_DIR, DEFAULT_MODEL, bundled_models
from .privacy import MODES, anonymize_faces
from .sources import Source, classify, images_in, open_video, video_frames

T = TypeVar("T")


def _progress(items: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    """tqdm when installed (it is an optional dependency), plain iteration otherwise."""
    try:
        from tqdm import tqdm
    except ImportError:
        return iter(items)
    return iter(tqdm(items, total=total, desc=desc, unit="img" if desc == "images" else "frame", file=sys.stderr))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _input_size(text: str) -> int | tuple[int, int] | None:
    if text.lower() in ("none", "original"):
        return None
    w, _, h = text.lower().partition("x")
    return (int(w), int(h)) if h else int(w)


def _render(image: np.ndarray, detections: Detections, args: argparse.Namespace) -> np.ndarray:
    if args.blur:
        return anonymize_faces(image, detections, mode=args.blur)
    return draw_detections(image, detections)


def _record(detector: FaceDetector, detections: Detections, elapsed_ms: float, **fields: object) -> dict:
    return {
        **fields,
        "model": detector.manifest.name,
        "backend": detector.backend_name,
        "latency_ms": round(elapsed_ms, 2),
        "faces": detections.to_dicts(),
    }


def _timed_detect(detector: FaceDetector, image: np.ndarray) -> tuple[Detections, float]:
    start = time.perf_counter()
    detections = detector.detect(image)
    return detections, (time.perf_counter() - start) * 1000


def _detect_image(detector: FaceDetector, path: Path, args: argparse.Namespace) -> int:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidImageError(f"cannot read image {path}")
    detections, elapsed_ms = _timed_detect(detector, image)
    args.out.mkdir(parents=True, exist_ok=True)
    picture, json_path = args.out / f"{path.stem}_faces.png", args.out / f"{path.stem}_faces.json"
    cv2.imwrite(str(picture), _render(image, detections, args))
    record = _record(detector, detections, elapsed_ms, image=str(path), width=image.shape[1], height=image.shape[0],
                     model_file=detector.model_file.path.name)
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{len(detections)} face(s) in {path} ({elapsed_ms:.1f} ms, {detector.backend_name}) → {picture}, {json_path}")
    return 0


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _detect_folder(detector: FaceDetector, folder: Path, args: argparse.Namespace) -> int:
    """Every image under ``folder``: annotated copies mirroring its tree, one JSON line each. With ``--batch-size B``
    B images go through one ``detect_batch`` call (each record's latency is its share of the batch)."""
    paths = images_in(folder)
    args.out.mkdir(parents=True, exist_ok=True)
    jsonl = args.out / "detections.jsonl"
    failures = faces = 0
    progress = _progress(paths, len(paths), "images")
    with open(jsonl, "w", encoding="utf-8") as sink:
        for chunk in _chunks(paths, args.batch_size):
            loaded = []
            for path in chunk:
                next(progress, None)
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    failures += 1
                    sink.write(json.dumps({"image": path.relative_to(folder).as_posix(), "error": "unreadable image"}) + "\n")
                else:
                    loaded.append((path.relative_to(folder), image))
            if not loaded:
                continue
            start = time.perf_counter()
            results = detector.detect_batch([image for _, image in loaded])
            share_ms = (time.perf_counter() - start) * 1000 / len(loaded)
            for (relative, image), detections in zip(loaded, results):
                faces += len(detections)
                target = (args.out / relative).with_suffix(".png")
                target.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(target), _render(image, detections, args))
                sink.write(json.dumps(_record(detector, detections, share_ms, image=relative.as_posix(),
                                              width=image.shape[1], height=image.shape[0],
                                              batch_size=len(loaded))) + "\n")
    for _ in progress:  # close the progress bar
        pass
    print(f"{len(paths)} image(s), {faces} face(s), {failures} unreadable → {args.out}, {jsonl}")
    return 0 if failures == 0 else 1


def _detect_video(detector: FaceDetector, source: Source, args: argparse.Namespace) -> int:
    capture = open_video(source)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    stem = Path(source.target).stem if source.kind == "video" else f"{source.kind}"
    args.out.mkdir(parents=True, exist_ok=True)
    video_path, jsonl = args.out / f"{stem}_faces.mp4", args.out / f"{stem}_faces.jsonl"
    writer = None
    frames = video_frames(capture)
    if args.max_frames:
        frames = (f for _, f in zip(range(args.max_frames), frames))
    count = 0
    try:
        with open(jsonl, "w", encoding="utf-8") as sink:
            for index, (frame, detections) in enumerate(_progress(detector.stream(frames, every=args.every, batch_size=args.batch_size), total, "frames")):
                if writer is None:
                    writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                             (frame.shape[1], frame.shape[0]))
                writer.write(_render(frame, detections, args))
                sink.write(json.dumps({"frame": index, "faces": detections.to_dicts()}) + "\n")
                count += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    print(f"{count} frame(s) → {video_path}, {jsonl}")
    return 0


def _detect(args: argparse.Namespace) -> int:
    source = classify(str(args.source))
    from .integrations.records import detector_from_args  # records imports this module (the JSON schema)

    detector = detector_from_args(args)
    if source.kind == "image":
        return _detect_image(detector, Path(source.target), args)
    if source.kind == "folder":
        return _detect_folder(detector, Path(source.target), args)
    return _detect_video(detector, source, args)


def _info(_: argparse.Namespace) -> int:
    installed = available_backends()
    models = {}
    for name in bundled_models():
        manifest = load_manifest(BUNDLED_DIR / name)
        models[name] = [f"{f.path.name} ({f.format}, {f.precision}, {'dynamic' if f.dynamic else 'x'.join(map(str, f.input_size))})"
                        for f in manifest.files]
    print(json.dumps({
        "version": __version__,
        "backends": {name: name in installed for name in BACKENDS},
        "install_hints": {name: f"pip install 'edge-sdk[{spec.extra}]'" for name, spec in BACKENDS.items()},
        "bundled_models": models,
    }, indent=2))
    return 0


def _bench(args: argparse.Namespace) -> int:
    """Quick latency check of detect() per installed backend on a 640x480 noise image. Backends without a model file
    for the asked size and precision are listed as skipped, with the reason."""
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    manifest = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    size = (args.input_size, args.input_size) if isinstance(args.input_size, int) else args.input_size
    timed = 0
    for name in available_backends():
        if manifest.select(BACKENDS[name].formats, args.precision, size) is None:
            print(f"{name:12s} skipped: no {args.precision} file at input size {args.input_size}")
            continue
        detector = FaceDetector(backend=name, input_size=args.input_size, threads=args.threads,
                                precision=args.precision, device=args.device)
        for _ in range(3):
            detector.detect(image)
        times = [_timed_detect(detector, image)[1] for _ in range(args.runs)]
        timed += 1
        print(f"{name:12s} {detector.model_file.path.name:40s} median {statistics.median(times):7.2f} ms "
              f"({1000 / statistics.median(times):6.1f} FPS, {args.runs} runs)")
    if not timed:
        print(f"no installed backend has a {args.precision} file at input size {args.input_size}", file=sys.stderr)
        return 2
    return 0


def _add_detector_options(parser: argparse.ArgumentParser) -> None:
    """The FaceDetector options every command that detects takes."""
    parser.add_argument("--model", default=None, help="bundled model name, model directory or file (default: bundled)")
    parser.add_argument("--backend", default="auto", help=f"auto or one of {', '.join(BACKENDS)}")
    parser.add_argument("--precision", default="fp32", help="fp32 (default) or int8 where the model ships it")
    parser.add_argument("--input-size", type=_input_size, default=640, help="640, 640x480 or 'original'")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--nms-threshold", type=float, default=0.4)
    parser.add_argument("--max-faces", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default=None,
                        help="backend device: onnxruntime cpu/cuda/tensorrt, openvino CPU/GPU/NPU/AUTO (default: CPU)")


def _add_service_detector_options(parser: argparse.ArgumentParser) -> None:
    """Detector options of the long-running integrations (``serve``, ``mqtt``), plus their input limits."""
    _add_detector_options(parser)
    parser.add_argument("--max-bytes", type=int, default=10 * 1024 * 1024, help="largest encoded image accepted")
    parser.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image (width x height) accepted")


def _serve(args: argparse.Namespace) -> int:
    from .integrations import require_extra

    require_extra("serve", "edge-sdk serve")
    from .integrations.http_service import run_from_args  # FastAPI/uvicorn only when asked for

    return run_from_args(args)


def _mqtt(args: argparse.Namespace) -> int:
    from .integrations import require_extra

    require_extra("mqtt", "edge-sdk mqtt")
    from .integrations.mqtt_bridge import run_from_args  # paho-mqtt only when asked for

    return run_from_args(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-sdk", description="Edge face detection.")
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    detect = sub.add_parser("detect", help="detect faces in an image, folder, video, camera or stream")
    detect.add_argument("source", help="image file, folder, video file, camera index (0) or URL (rtsp://...)")
    detect.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out)")
    _add_detector_options(detect)
    detect.add_argument("--blur", choices=MODES, default=None, help="privacy mode: blur or pixelate faces")
    detect.add_argument("--every", type=int, default=1, help="videos: run the model on every N-th frame")
    detect.add_argument("--max-frames", type=int, default=None, help="videos: stop after N frames")
    detect.add_argument("--batch-size", type=_positive_int, default=1,
                        help="folders and videos: images per model call (throughput for offline work; see docs/BATCHING.md)")
    detect.set_defaults(run=_detect)

    info = sub.add_parser("info", help="version, installed backends, bundled models")
    info.set_defaults(run=_info)

    bench = sub.add_parser("bench", help="quick latency check of the installed backends")
    bench.add_argument("--runs", type=int, default=20)
    bench.add_argument("--input-size", type=_input_size, default=640)
    bench.add_argument("--threads", type=int, default=None)
    bench.add_argument("--precision", default="fp32", help="fp32 (default) or int8")
    bench.add_argument("--device", default=None, help="backend device (see detect --device)")
    bench.set_defaults(run=_bench)

    serve = sub.add_parser("serve", help="HTTP detection service (POST /detect, /health, /metrics); extra [serve]")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--concurrency", type=int, default=2, help="requests processed at once")
    serve.add_argument("--max-queue", type=int, default=32, help="requests waiting beyond --concurrency before 503")
    _add_service_detector_options(serve)
    serve.set_defaults(run=_serve)

    mqtt = sub.add_parser("mqtt", help="MQTT bridge: JPEG/PNG frames in, detection JSON out; extra [mqtt]")
    mqtt.add_argument("--broker", default="127.0.0.1:1883", help="host:port of the MQTT broker")
    mqtt.add_argument("--subscribe", action="append", default=None, help="topic filter (repeatable; default frames/#)")
    mqtt.add_argument("--result-prefix", default="faces", help="results go to PREFIX/<frame topic>")
    mqtt.add_argument("--error-topic", default="edge-sdk/errors", help="where bad frames are reported")
    mqtt.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    mqtt.add_argument("--client-id", default="", help="MQTT client id (default: assigned by the broker)")
    mqtt.add_argument("--username", default=None, help="broker user (password from $MQTT_PASSWORD)")
    mqtt.add_argument("--tls-ca", default=None, help="CA file: connect with TLS")
    mqtt.add_argument("--workers", type=int, default=1, help="frames processed at once")
    mqtt.add_argument("--queue-size", type=int, default=8, help="frames waiting beyond that before they are dropped")
    _add_service_detector_options(mqtt)
    mqtt.set_defaults(run=_mqtt)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.run(args)
    except (EdgeSDKError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
