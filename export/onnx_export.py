"""ONNX export (torch dynamo exporter) of the inference model: raw heads, softmaxed scores, no decoding."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

OPSET = 20
INPUT_NAME = "input"
OUTPUT_NAMES = ("boxes", "scores", "landmarks")


def export_onnx(model: torch.nn.Module, path: Path, input_size: tuple[int, int] | None) -> Path:
    """Write ``model`` to ``path``. ``input_size`` (width, height) fixes the shape; None makes H and W dynamic
    (batch stays 1, the shape every runtime here serves)."""
    width, height = input_size or (640, 640)
    example = torch.zeros(1, 3, height, width)
    dynamic_shapes = None
    if input_size is None:
        dynamic_shapes = {"x": {2: torch.export.Dim("height", min=32, max=8192), 3: torch.export.Dim("width", min=32, max=8192)}}
    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        opset_version=OPSET,
        input_names=[INPUT_NAME],
        output_names=list(OUTPUT_NAMES),
        dynamic_shapes=dynamic_shapes,
        external_data=False,
        verbose=False,
    )
    program.save(str(path), external_data=False)
    log.info("wrote %s", path)
    return path
