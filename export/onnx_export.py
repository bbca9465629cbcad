"""ONNX export (torch dynamo exporter) of the inference model: raw heads, softmaxed scores, no decoding."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)

OPSET = 20
INPUT_NAME = "input"
OUTPUT_NAMES = ("boxes", "scores", "landmarks")


MAX_BATCH = 64  # upper bound recorded in the exported program; runtimes accept any batch up to it


def export_onnx(
    model: torch.nn.Module, path: Path, input_size: tuple[int, int] | None, dynamic_batch: bool = True
) -> Path:
    """Write ``model`` to ``path``. ``input_size`` (width, height) fixes H and W; None makes them dynamic.
    ``dynamic_batch`` leaves the batch dimension open (``FaceDetector.detect_batch`` stacks images into one call);
    False fixes it at 1 (the quantized PT2E graphs, whose export specializes the batch)."""
    width, height = input_size or (640, 640)
    example = torch.zeros(2 if dynamic_batch else 1, 3, height, width)  # 2: a size-1 example would specialize
    axes: dict[int, torch.export.Dim] = {}
    if dynamic_batch:
        axes[0] = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    if input_size is None:
        axes[2] = torch.export.Dim("height", min=32, max=8192)
        axes[3] = torch.export.Dim("width", min=32, max=8192)
    dynamic_shapes = {"x": axes} if axes else None
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
