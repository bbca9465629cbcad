"""The table of export formats: one row per format, one ``export_<format>`` function per row (see exporter.WRITERS)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str  # also the manifest's "format" field and the runtime backend's format key
    suffix: str  # of the main file (OpenVINO's .bin weights sit beside its .xml)
    precisions: tuple[str, ...]  # model file precisions it can be written in
    dynamic_shape: bool  # can the format hold a dynamic-H/W variant?
    needs: tuple[str, ...]  # Python packages the export needs (the runtime backend included, for the parity check)
    backend: str  # the edge_sdk backend that runs it (parity check)


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", ("fp32",), True, ("torch", "onnx", "onnxscript", "onnxruntime"), "onnxruntime"),
        ExportFormat(
            "openvino", ".xml", ("fp32", "fp16"), True, ("torch", "onnx", "onnxscript", "openvino"), "openvino"
        ),
        ExportFormat("tflite", ".tflite", ("fp32",), False, ("torch", "litert_torch", "ai_edge_litert"), "tflite"),
    )
}

# Max |diff| against PyTorch that a parity check allows, per precision (fp32: the CLI's --tolerance). fp16 weights
# move the raw box/landmark deltas by up to ~0.1 (in variance units) on a real image; scores by ~1e-3.
REDUCED_PRECISION_TOLERANCE = {"fp16": 0.25}


def file_name(model_name: str, fmt: str, input_size: tuple[int, int] | None, precision: str) -> str:
    """The one naming rule of model files: ``{model}_{640x640|dynamic}[_{precision}]{suffix}`` (no precision part for
    fp32), e.g. ``retinaface_mnet025_dynamic_int8.xml``."""
    size = "dynamic" if input_size is None else f"{input_size[0]}x{input_size[1]}"
    return f"{model_name}_{size}{'' if precision == 'fp32' else f'_{precision}'}{FORMATS[fmt].suffix}"
