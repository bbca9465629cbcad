"""The table of export formats: one row per format, one ``export_<format>`` function per row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str  # also the manifest's "format" field and the runtime backend's format key
    suffix: str
    precisions: tuple[str, ...]
    dynamic_shape: bool  # can the format hold a dynamic-H/W variant?
    needs: tuple[str, ...]  # Python packages the export needs


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("onnx", ".onnx", ("fp32",), True, ("torch", "onnx", "onnxscript", "onnxruntime")),
    )
}
