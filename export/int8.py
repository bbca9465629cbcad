"""Quantized model files, written here and nowhere else (next to the fp32 writers of ``exporter.py``):

- a PT2E-converted torch model (``training/qat.py`` trains and converts it) → ONNX QDQ, OpenVINO IR (converted from
  that QDQ ONNX) or full-integer TFLite (litert-torch, which needs the PT2E quantizer object);
- the post-training baselines of ONNX Runtime (``quantize_static``) and NNCF on the directory's fp32 ONNX files.

File names follow :func:`export.formats.file_name` and entries are typed :class:`edge_sdk.manifest.ModelFile`, added
to the directory's manifest with :func:`export.manifest_writer.add_files`.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge_sdk.manifest import ModelFile, load_manifest

from .formats import FORMATS, file_name
from .onnx_export import export_onnx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizedModel:
    """A converted (int8 Q/DQ) PT2E model and how it was made."""

    model: torch.nn.Module
    quantization: str  # the manifest entry's note: quantizer and recipe
    quantizer: object | None = None  # the PT2E quantizer object (the TFLite converter needs it)


def _write_onnx(quantized: QuantizedModel, path: Path, input_size: tuple[int, int] | None) -> tuple[Path, ...]:
    return (export_onnx(quantized.model, path, input_size),)


def _write_openvino(quantized: QuantizedModel, path: Path, input_size: tuple[int, int] | None) -> tuple[Path, ...]:
    from .openvino_export import export_openvino

    with tempfile.TemporaryDirectory(prefix="edge_sdk_int8_") as scratch:
        qdq = export_onnx(quantized.model, Path(scratch) / "qdq.onnx", input_size)
        return export_openvino(qdq, path, "fp32")  # fp32: the int8 weights stay int8; nothing is compressed further


def _write_tflite(quantized: QuantizedModel, path: Path, input_size: tuple[int, int] | None) -> tuple[Path, ...]:
    from litert_torch.quantize.quant_config import QuantConfig

    from .tflite_export import export_tflite

    if quantized.quantizer is None:
        raise ValueError("a TFLite int8 file needs the PT2E quantizer the model was converted with")
    export_tflite(quantized.model, path, input_size, QuantConfig(pt2e_quantizer=quantized.quantizer))
    return (path,)


# format → (writer of the file(s) at a path, exporter note of the manifest entry)
_WRITERS: dict[str, tuple[Callable[[QuantizedModel, Path, tuple[int, int] | None], tuple[Path, ...]], str]] = {
    "onnx": (_write_onnx, "torch.onnx QDQ"),
    "openvino": (_write_openvino, "openvino convert_model(QDQ ONNX)"),
    "tflite": (_write_tflite, "litert-torch full-integer, NHWC input (input transpose dropped, export.tflite_layout)"),
}


def write_quantized(
    directory: Path,
    fmt: str,
    quantized: QuantizedModel,
    input_sizes: Sequence[tuple[int, int] | None],
    precision: str = "int8",
) -> list[ModelFile]:
    """Write ``quantized`` in ``fmt`` at each input size (None: dynamic height/width, for graphs traced with dynamic
    sizes) into ``directory``, named after its model; returns the manifest entries (not yet added)."""
    if fmt not in _WRITERS:
        raise ValueError(f"no int8 writer for format {fmt!r}; known: {sorted(_WRITERS)}")
    writer, exporter = _WRITERS[fmt]
    name = load_manifest(directory).name
    files = []
    for size in input_sizes:
        if size is None and not FORMATS[fmt].dynamic_shape:
            raise ValueError(f"format {fmt!r} cannot hold a dynamic-shape model")
        written = writer(quantized, directory / file_name(name, fmt, size, precision), size)
        files.append(_entry(directory, written, fmt, precision, size, quantized.quantization, exporter))
    return files


def write_ptq_baselines(
    directory: Path, calibration: Sequence[np.ndarray], input_sizes: Sequence[tuple[int, int] | None]
) -> list[ModelFile]:
    """Post-training int8 baselines (precision "int8-ptq") of the directory's fp32 ONNX file of each input size:
    ONNX Runtime ``quantize_static`` and NNCF (OpenVINO IR), calibrated on ``calibration`` (letterboxed inputs)."""
    from .ptq import ptq_onnxruntime, ptq_openvino

    manifest = load_manifest(directory)
    files = []
    for size in input_sizes:
        fp32 = next(
            (f for f in manifest.files if f.format == "onnx" and f.precision == "fp32" and f.input_size == size), None
        )
        if fp32 is None:
            raise FileNotFoundError(f"{directory} has no fp32 ONNX file of input size {size or 'dynamic'} to quantize")
        onnx = ptq_onnxruntime(fp32.path, directory / file_name(manifest.name, "onnx", size, "int8-ptq"), calibration)
        files.append(
            _entry(
                directory,
                (onnx,),
                "onnx",
                "int8-ptq",
                size,
                f"PTQ baseline: onnxruntime quantize_static, {len(calibration)} images",
                "",
            )
        )
        xml = ptq_openvino(fp32.path, directory / file_name(manifest.name, "openvino", size, "int8-ptq"), calibration)
        files.append(
            _entry(
                directory,
                (xml, xml.with_suffix(".bin")),
                "openvino",
                "int8-ptq",
                size,
                f"PTQ baseline: nncf.quantize, {len(calibration)} images",
                "",
            )
        )
    return files


def _entry(
    directory: Path,
    written: tuple[Path, ...],
    fmt: str,
    precision: str,
    size: tuple[int, int] | None,
    quantization: str,
    exporter: str,
) -> ModelFile:
    output_names, layout = None, None
    if fmt == "tflite":  # its converter names the outputs; the runtime finds them by these names
        from .tflite_export import output_names_of

        output_names, layout = output_names_of(written[0]), "NHWC"
    log.info("wrote %s (%s, %s)", written[0].name, fmt, precision)
    return ModelFile.of_file(
        directory,
        written[0],
        fmt,
        precision,
        size,
        extra_files=written[1:],
        output_names=output_names,
        quantization=quantization,
        exporter=exporter,
        layout=layout,
    )
