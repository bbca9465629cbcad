"""TFLite export with litert-torch (no TensorFlow): fp32 or full-integer, fixed input size; the file takes NHWC input
(the converter's leading transpose dropped, :mod:`export.tflite_layout`).

The outputs are returned as a dict so that the TFLite signature names them after their roles; their tensor names
(``serving_default_boxes_output``, ...) are read back from the file and recorded in the manifest entry.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import version
from pathlib import Path

import torch

from edge_sdk.manifest import OUTPUT_ROLES

from .onnx_export import OUTPUT_NAMES
from .tflite_layout import channels_last_note, convert_file

log = logging.getLogger(__name__)


class _NamedOutputs(torch.nn.Module):
    """The inference model with its three outputs keyed by role (TFLite signature output names)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(OUTPUT_NAMES, self.model(x)))


def export_tflite(
    model: torch.nn.Module, path: Path, input_size: tuple[int, int], quant_config: object = None
) -> dict[str, str]:
    """Write ``model`` at the fixed ``input_size`` (width, height) to ``path``; returns role → output tensor name.

    ``quant_config`` (a ``litert_torch.quantize.quant_config.QuantConfig``) converts a PT2E-quantized model (QAT or
    PTQ with litert-torch's quantizer) to a full-integer TFLite model."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")  # its progress lines go to the console, not logging
    import litert_torch

    width, height = input_size
    converted = litert_torch.convert(
        _NamedOutputs(model).eval(), (torch.zeros(1, 3, height, width),), quant_config=quant_config
    )
    converted.export(str(path))
    convert_file(path)  # channels-last input: the layout LiteRT computes in (export.tflite_layout)
    names = output_names_of(path)
    log.info("wrote %s (outputs %s)", path, names)
    return names


def output_names_of(path: Path) -> dict[str, str]:
    """Role → output tensor name of a .tflite written by :func:`export_tflite` (its signature names the outputs by
    role; the tensors are named by the converter)."""
    from ai_edge_litert.interpreter import Interpreter

    details = Interpreter(model_path=str(path)).get_signature_runner().get_output_details()
    return {role: str(details[key]["name"]) for role, key in zip(OUTPUT_ROLES, OUTPUT_NAMES)}


def exporter_note() -> str:
    return channels_last_note(f"litert-torch {version('litert-torch')}, fp32")
