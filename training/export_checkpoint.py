"""Hand a training run's weights to the export module.

    python -m training.export_checkpoint --checkpoint out/run/checkpoints/last.pt --out out/run/model.pt
        [--weights ema|model] [--export-dir out/run/onnx --formats onnx --sizes 640,dynamic]

Writes a weights-only checkpoint with :func:`training.checkpoint.save_checkpoint` (config, normalization, provenance,
weights: what ``python -m export --checkpoint`` reads) from a training checkpoint (``last.pt``/``step_*.pt``, which
carry optimizer state and, with EMA, the averaged weights). ``final.pt`` of a finished run is already such a file.
With ``--export-dir`` it then exports OUT like ``python -m export --checkpoint OUT --formats F --out DIR`` does
(:func:`export.exporter.export_model`, called in this process).
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

import torch

from .checkpoint import save_checkpoint
from .config import ModelConfig
from .model import RetinaFace

log = logging.getLogger(__name__)


def export_weights(checkpoint: Path, out: Path, weights: str = "auto") -> dict[str, Any]:
    """Write ``out`` from a training (or weights-only) checkpoint; ``weights``: ``ema``, ``model`` or ``auto`` (EMA
    when the checkpoint has it). Returns the provenance written."""
    data = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = data.get("train_state") or {}
    ema = state.get("ema")
    if weights == "auto":
        weights = "ema" if ema else "model"
    if weights == "ema" and not ema:
        raise ValueError(f"{checkpoint} holds no EMA weights (train.ema.enabled was off)")
    model = RetinaFace(ModelConfig.from_dict(data["config"]))
    model.load_state_dict(ema["module"] if weights == "ema" else data["model"], strict=True)
    provenance = {**data.get("provenance", {}), "exported_from": str(checkpoint), "weights": weights}
    save_checkpoint(out, model, data["normalization"], provenance, recipe=data.get("recipe"), weights=weights)
    log.info("wrote %s (%s weights of %s)", out, weights, checkpoint)
    return provenance


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.export_checkpoint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (or final.pt)")
    p.add_argument("--out", type=Path, required=True, help="weights-only checkpoint to write")
    p.add_argument("--weights", choices=("auto", "ema", "model"), default="auto")
    p.add_argument("--export-dir", type=Path, default=None, help="then export the weights into this folder")
    p.add_argument("--formats", default="onnx")
    p.add_argument("--sizes", default="640,dynamic")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    export_weights(args.checkpoint, args.out, args.weights)
    print(f"wrote {args.out}")
    if args.export_dir is not None:
        from export.exporter import export_model, parse_list, parse_sizes

        command = "python -m training.export_checkpoint " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
        )
        for result in export_model(
            args.out, args.export_dir, parse_list(args.formats), parse_sizes(args.sizes), command=command
        ):
            print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
