"""Command line: ``edge-sdk detect IMAGE --out DIR`` and ``edge-sdk info``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2

from . import __version__
from .backends import BACKENDS, available_backends
from .detector import FaceDetector
from .draw import draw_detections
from .errors import EdgeSDKError
from .models import bundled_models


def _input_size(text: str) -> int | tuple[int, int] | None:
    if text.lower() in ("none", "original"):
        return None
    w, _, h = text.lower().partition("x")
    return (int(w), int(h)) if h else int(w)


def _detect(args: argparse.Namespace) -> int:
    detector = FaceDetector(
        model=args.model,
        backend=args.backend,
        input_size=args.input_size,
        score_threshold=args.score_threshold,
        nms_threshold=args.nms_threshold,
        threads=args.threads,
    )
    image = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if image is None:
        print(f"error: cannot read image {args.image}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    detections = detector.detect(image)
    elapsed_ms = (time.perf_counter() - start) * 1000
    args.out.mkdir(parents=True, exist_ok=True)
    annotated_path = args.out / f"{args.image.stem}_faces.png"
    json_path = args.out / f"{args.image.stem}_faces.json"
    cv2.imwrite(str(annotated_path), draw_detections(image, detections))
    record = {
        "image": str(args.image),
        "width": image.shape[1],
        "height": image.shape[0],
        "model": detector.manifest.name,
        "model_file": detector.model_file.path.name,
        "backend": detector.backend_name,
        "latency_ms": round(elapsed_ms, 2),
        "faces": detections.to_dicts(),
    }
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"{len(detections)} face(s) in {args.image} ({elapsed_ms:.1f} ms, {detector.backend_name}) "
          f"→ {annotated_path}, {json_path}")
    return 0


def _info(_: argparse.Namespace) -> int:
    info = {
        "version": __version__,
        "backends": {name: name in available_backends() for name in BACKENDS},
        "install_hints": {name: f"pip install 'edge-sdk[{spec.extra}]'" for name, spec in BACKENDS.items()},
        "bundled_models": bundled_models(),
    }
    print(json.dumps(info, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-sdk", description="Edge face detection.")
    parser.add_argument("--version", action="version", version=f"edge-sdk {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    detect = sub.add_parser("detect", help="detect faces in an image, write an annotated PNG and JSON")
    detect.add_argument("image", type=Path)
    detect.add_argument("--out", type=Path, default=Path("out"))
    detect.add_argument("--model", default=None, help="bundled model name, model directory or file (default: bundled)")
    detect.add_argument("--backend", default="auto")
    detect.add_argument("--input-size", type=_input_size, default=640, help="640, 640x480 or 'original'")
    detect.add_argument("--score-threshold", type=float, default=0.5)
    detect.add_argument("--nms-threshold", type=float, default=0.4)
    detect.add_argument("--threads", type=int, default=None)
    detect.set_defaults(run=_detect)
    info = sub.add_parser("info", help="version, installed backends, bundled models")
    info.set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.run(args)
    except EdgeSDKError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
