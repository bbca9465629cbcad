"""CLI: python -m export --checkpoint CKPT --formats onnx,openvino,tflite --out DIR"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from training.checkpoint import DEFAULT_CHECKPOINT

from .exporter import WRITERS, export_model, parse_list, parse_sizes
from .formats import FORMATS


def main(argv: list[str] | None = None) -> int:
    formats_help = "; ".join(
        f"{f.name} ({'/'.join(f.precisions)}{', dynamic' if f.dynamic_shape else ''})" for f in FORMATS.values()
    )
    parser = argparse.ArgumentParser(
        prog="python -m export", description="Export a checkpoint for the edge_sdk runtime."
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--formats", default="onnx", help=f"comma-separated: {','.join(WRITERS)} [{formats_help}]")
    parser.add_argument(
        "--sizes",
        default="640,dynamic",
        help="comma-separated input sizes: 640, 640x480, dynamic (formats without dynamic shapes skip it)",
    )
    parser.add_argument(
        "--precisions",
        default="fp32",
        help="comma-separated: fp32, fp16 (OpenVINO fp16-compressed weights); formats skip what they lack",
    )
    parser.add_argument("--name", default="retinaface_mnet025")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parity-image", type=Path, default=Path("samples/astronaut.png"))
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs diff allowed against PyTorch (fp32)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    results = export_model(
        args.checkpoint,
        args.out,
        parse_list(args.formats),
        parse_sizes(args.sizes),
        name=args.name,
        parity_image=args.parity_image if args.parity_image.is_file() else None,
        tolerance=args.tolerance,
        command="python -m export " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        precisions=parse_list(args.precisions),
    )
    for result in results:
        print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
