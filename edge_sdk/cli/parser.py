"""The ``edge-sdk`` argument parser: every option checked where it is parsed (a bad value is exit 2 and one line)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..backends import BACKENDS
from ..detector import MAX_THREADS
from ..image import DEFAULT_MAX_PIXELS
from ..privacy import MODES
from .commands import run_bench, run_info, run_mqtt, run_serve, run_tune
from .detect import run_detect
from .errors import OneLineArgumentParser
from .outputs import SAVE_MODES


def _int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected an integer in [{low}, {high if high else '∞'}], got {value}")
        return value

    return parse


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _input_size(text: str) -> int | tuple[int, int] | None:
    if text.lower() in ("none", "original"):
        return None
    w, _, h = text.lower().partition("x")
    try:
        size = (int(w), int(h)) if h else (int(w), int(w))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 640, 640x480 or 'original', got {text!r}") from None
    if not all(32 <= v <= 8192 for v in size):
        raise argparse.ArgumentTypeError(f"input sizes must be in [32, 8192], got {text!r}")
    return size if h else size[0]


def _backend(text: str) -> str:
    from ..backends import resolve_backend_name

    try:
        return resolve_backend_name(text)
    except (KeyError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


POSITIVE = _int_in(1)
PORT = _int_in(1, 65535)
THREADS = _int_in(1, MAX_THREADS)


def _verbose_option(parser: argparse.ArgumentParser, top_level: bool) -> None:
    # Top level: the default; subcommands: SUPPRESS, so `edge-sdk detect X -v` and `edge-sdk -v detect X` both work.
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="log at INFO level and show tracebacks",
    )


def add_detector_options(parser: argparse.ArgumentParser) -> None:
    """The FaceDetector options every command that detects takes."""
    parser.add_argument("--model", default=None, help="bundled model name, model directory or file (default: bundled)")
    parser.add_argument("--backend", default="auto", help=f"auto or one of {', '.join(BACKENDS)}")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "fp16", "int8"),
        help="fp32 (default) or int8 where the model ships it",
    )
    parser.add_argument("--input-size", type=_input_size, default=640, help="640, 640x480 or 'original'")
    parser.add_argument("--score-threshold", type=_unit_float, default=0.5)
    parser.add_argument("--nms-threshold", type=_unit_float, default=0.4)
    parser.add_argument("--max-faces", type=POSITIVE, default=None)
    parser.add_argument("--threads", type=THREADS, default=None)
    parser.add_argument(
        "--device",
        default=None,
        help="backend device: onnxruntime cpu/cuda/tensorrt, openvino CPU/GPU/NPU/AUTO (default: CPU)",
    )


def _add_service_detector_options(parser: argparse.ArgumentParser) -> None:
    """Detector options of the long-running integrations (``serve``, ``mqtt``), plus their input limits."""
    add_detector_options(parser)
    parser.add_argument("--max-bytes", type=POSITIVE, default=10 * 1024 * 1024, help="largest encoded image accepted")
    parser.add_argument(
        "--max-pixels", type=POSITIVE, default=40_000_000, help="largest image (width x height) accepted"
    )


def _save_mode(args: argparse.Namespace) -> None:
    """``--save`` (default: annotated pictures, none with ``--json``); ``--blur MODE`` is the older spelling."""
    if args.blur is not None:
        if args.save not in (None, "blurred", "pixelated"):
            raise argparse.ArgumentTypeError("--blur and --save disagree")
        args.save = "blurred" if args.blur == "blur" else "pixelated"
    if args.save is None:
        args.save = "none" if args.json else "annotated"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="edge-sdk", description="Edge face detection.")
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    _verbose_option(parser, top_level=True)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineArgumentParser)

    detect = sub.add_parser("detect", help="detect faces in an image, folder, video, camera or stream")
    detect.add_argument("source", help="image file, folder, video file, camera index (0) or URL (rtsp://...)")
    detect.add_argument("--out", type=Path, default=Path("out"), help="output folder (default: out)")
    detect.add_argument(
        "--json",
        action="store_true",
        help="records to stdout (one JSON object per line), nothing else on stdout; implies "
        "--save none unless --save is given",
    )
    detect.add_argument(
        "--save",
        choices=SAVE_MODES,
        default=None,
        help="pictures to write: annotated (default), blurred, pixelated or none; folders keep each "
        "input's format, videos are MP4",
    )
    detect.add_argument("--blur", choices=MODES, default=None, help="same as --save blurred / --save pixelated")
    add_detector_options(detect)
    detect.add_argument(
        "--max-pixels",
        type=POSITIVE,
        default=DEFAULT_MAX_PIXELS,
        help=f"largest image (width x height) accepted, checked before decoding (default {DEFAULT_MAX_PIXELS})",
    )
    detect.add_argument("--every", type=POSITIVE, default=1, help="videos: run the model on every N-th frame")
    detect.add_argument("--max-frames", type=POSITIVE, default=None, help="videos: stop after N frames (N >= 1)")
    detect.add_argument(
        "--batch-size",
        type=POSITIVE,
        default=1,
        help="folders and videos: images per model call (offline throughput; see docs/BATCHING.md)",
    )
    detect.add_argument("--track", action="store_true", help="videos: stable track ids across frames")
    detect.add_argument(
        "--hold-frames",
        type=_int_in(0, 1000),
        default=0,
        help="with --track: keep reporting a lost face's predicted box for N frames",
    )
    detect.add_argument(
        "--reconnect-attempts",
        type=_int_in(0, 1000),
        default=5,
        help="cameras and streams: reopen attempts in a row before giving up (backoff 0.5 s .. 8 s)",
    )
    _verbose_option(detect, top_level=False)
    detect.set_defaults(run=run_detect, prepare=_save_mode)

    info = sub.add_parser("info", help="version, installed backends, bundled models")
    _verbose_option(info, top_level=False)
    info.set_defaults(run=run_info)

    bench = sub.add_parser("bench", help="quick latency check of the installed backends")
    bench.add_argument(
        "--backend",
        type=_backend,
        action="append",
        default=None,
        help="time only this backend (repeatable; default: every backend, uninstalled ones listed as skipped)",
    )
    bench.add_argument("--runs", type=POSITIVE, default=20)
    bench.add_argument("--input-size", type=_input_size, default=640)
    bench.add_argument("--threads", type=THREADS, default=None)
    bench.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    bench.add_argument(
        "--device", default=None, help="backend device (see detect --device); backends without it are listed as skipped"
    )
    bench.add_argument("--json", action="store_true", help="results as JSON on stdout")
    _verbose_option(bench, top_level=False)
    bench.set_defaults(run=run_bench)

    tune = sub.add_parser("tune", help="time the installed backends here and cache the fastest for backend=auto")
    tune.add_argument("--model", default=None, help="bundled model name, model directory (default: bundled)")
    tune.add_argument("--input-size", type=_input_size, default=640)
    tune.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    tune.add_argument("--threads", type=THREADS, default=None)
    tune.add_argument("--budget", type=float, default=2.0, help="seconds of timed calls, all backends together")
    tune.add_argument("--json", action="store_true", help="the ranking as JSON on stdout")
    _verbose_option(tune, top_level=False)
    tune.set_defaults(run=run_tune)

    serve = sub.add_parser("serve", help="HTTP detection service (POST /detect, /health, /metrics); extra [serve]")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    serve.add_argument("--port", type=PORT, default=8080)
    serve.add_argument("--concurrency", type=POSITIVE, default=2, help="requests processed at once")
    serve.add_argument(
        "--max-queue", type=_int_in(0), default=32, help="requests waiting beyond --concurrency before 503"
    )
    serve.add_argument(
        "--max-connections",
        dest="max_connections",
        type=POSITIVE,
        default=None,
        help="open connections at most; more get 503 and are closed (default 64)",
    )
    serve.add_argument(
        "--header-timeout",
        dest="header_timeout_s",
        type=_positive_float,
        default=None,
        help="seconds a client has to send its request headers (default 10)",
    )
    serve.add_argument(
        "--body-timeout",
        dest="body_timeout_s",
        type=_positive_float,
        default=None,
        help="seconds a client has to send its body, then 408 (default 20)",
    )
    serve.add_argument(
        "--max-body-memory",
        dest="max_body_memory",
        type=POSITIVE,
        default=None,
        help="bytes of request bodies held at once, all clients together (default 256 MiB)",
    )
    serve.add_argument(
        "--min-score-threshold",
        dest="min_score_threshold",
        type=_unit_float,
        default=None,
        help="lowest score_threshold a request may ask for (default 0.1; 422 below)",
    )
    serve.add_argument(
        "--max-faces-per-request",
        dest="max_faces_per_request",
        type=POSITIVE,
        default=None,
        help="most faces one answer holds; a request asking for more gets 422 (default 500)",
    )
    _add_service_detector_options(serve)
    _verbose_option(serve, top_level=False)
    serve.set_defaults(run=run_serve)

    mqtt = sub.add_parser("mqtt", help="MQTT bridge: JPEG/PNG frames in, detection JSON out; extra [mqtt]")
    mqtt.add_argument("--broker", default="127.0.0.1:1883", help="host:port of the MQTT broker")
    mqtt.add_argument("--subscribe", action="append", default=None, help="topic filter (repeatable; default frames/#)")
    mqtt.add_argument("--result-prefix", default="faces", help="results go to PREFIX/<frame topic>")
    mqtt.add_argument("--error-topic", default="edge-sdk/errors", help="where bad frames are reported")
    mqtt.add_argument("--qos", type=int, choices=(0, 1, 2), default=1)
    mqtt.add_argument("--client-id", default="", help="MQTT client id (default: assigned by the broker)")
    mqtt.add_argument("--username", default=None, help="broker user (password from $MQTT_PASSWORD)")
    mqtt.add_argument("--tls-ca", default=None, help="CA file: connect with TLS")
    mqtt.add_argument("--workers", type=POSITIVE, default=1, help="frames processed at once")
    mqtt.add_argument(
        "--queue-size", type=POSITIVE, default=8, help="frames waiting beyond that before they are dropped"
    )
    mqtt.add_argument(
        "--max-topic-bytes",
        dest="max_topic_bytes",
        type=_int_in(1, 65535),
        default=None,
        help="longest reply topic (UTF-8 bytes) the bridge publishes to (default 1024)",
    )
    _add_service_detector_options(mqtt)
    _verbose_option(mqtt, top_level=False)
    mqtt.set_defaults(run=run_mqtt)
    return parser
