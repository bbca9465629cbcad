"""Export a checkpoint to the requested formats, write the manifest, check parity of every written file."""

from __future__ import annotations

import datetime as _dt
import importlib.util
import logging
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import torch

from edge_sdk.manifest import ModelFile
from training.checkpoint import load_checkpoint
from training.model import InferenceModel

from .formats import FORMATS, REDUCED_PRECISION_TOLERANCE, file_name
from .manifest_writer import checkpoint_manifest, write_export_manifest
from .onnx_export import OPSET, export_onnx
from .parity import ParityResult, check_parity

log = logging.getLogger(__name__)


@dataclass
class ExportContext:
    """What every writer shares in one run: the model, the output directory, and the ONNX file of each input size
    (exported once, into a scratch directory; the OpenVINO writer converts it)."""

    model: torch.nn.Module
    directory: Path
    name: str
    scratch: Path
    _onnx: dict[tuple[int, int] | None, Path] = field(default_factory=dict)

    def path(self, fmt: str, input_size: tuple[int, int] | None, precision: str) -> Path:
        return self.directory / file_name(self.name, fmt, input_size, precision)

    def onnx(self, input_size: tuple[int, int] | None) -> Path:
        if input_size not in self._onnx:
            path = self.scratch / f"{len(self._onnx)}.onnx"
            self._onnx[input_size] = export_onnx(self.model, path, input_size)
        return self._onnx[input_size]


# writer(context, input size or None for dynamic, precision) → manifest entries of the files it wrote
Writer = Callable[[ExportContext, "tuple[int, int] | None", str], list[ModelFile]]


def _write_onnx(ctx: ExportContext, input_size: tuple[int, int] | None, precision: str) -> list[ModelFile]:
    path = Path(shutil.copyfile(ctx.onnx(input_size), ctx.path("onnx", input_size, precision)))
    return [
        ModelFile.of_file(
            ctx.directory, path, "onnx", precision, input_size, exporter=f"torch.onnx dynamo, opset {OPSET}"
        )
    ]


def _write_openvino(ctx: ExportContext, input_size: tuple[int, int] | None, precision: str) -> list[ModelFile]:
    from .openvino_export import export_openvino, exporter_note

    xml, weights = export_openvino(ctx.onnx(input_size), ctx.path("openvino", input_size, precision), precision)
    return [
        ModelFile.of_file(
            ctx.directory,
            xml,
            "openvino",
            precision,
            input_size,
            extra_files=(weights,),
            exporter=exporter_note(precision),
        )
    ]


def _write_tflite(ctx: ExportContext, input_size: tuple[int, int] | None, precision: str) -> list[ModelFile]:
    from .tflite_export import export_tflite, exporter_note

    if input_size is None:
        raise ValueError("tflite is exported at fixed sizes only")
    path = ctx.path("tflite", input_size, precision)
    output_names = export_tflite(ctx.model, path, input_size)
    return [
        ModelFile.of_file(
            ctx.directory,
            path,
            "tflite",
            precision,
            input_size,
            output_names=output_names,
            exporter=exporter_note(),
            layout="NHWC",
        )
    ]


WRITERS: dict[str, Writer] = {"onnx": _write_onnx, "openvino": _write_openvino, "tflite": _write_tflite}


def parse_sizes(text: str) -> list[tuple[int, int] | None]:
    """``"640,640x480,dynamic"`` → ``[(640, 640), (640, 480), None]`` (width x height)."""
    sizes: list[tuple[int, int] | None] = []
    for item in text.split(","):
        item = item.strip().lower()
        if item == "dynamic":
            sizes.append(None)
        else:
            w, _, h = item.partition("x")
            sizes.append((int(w), int(h or w)))
    return sizes


def parse_list(text: str) -> list[str]:
    """``"onnx, OpenVINO"`` → ``["onnx", "openvino"]``."""
    return [item.strip().lower() for item in text.split(",") if item.strip()]


def check_requirements(formats: list[str], precisions: list[str]) -> None:
    """Fail before any work when a format is unknown, lacks a precision, or its packages are not installed."""
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; known: {sorted(WRITERS)}")
    for fmt in formats:
        if not set(precisions) & set(FORMATS[fmt].precisions):
            raise ValueError(
                f"format {fmt!r} has none of the precisions {precisions} (it has {FORMATS[fmt].precisions})"
            )
        missing = [p for p in FORMATS[fmt].needs if importlib.util.find_spec(p) is None]
        if missing:
            raise ImportError(
                f"exporting {fmt!r} needs the packages {missing}: pip install -e '.[export]' (from the repo root)"
            )


def export_model(
    checkpoint: Path,
    out_dir: Path,
    formats: list[str],
    input_sizes: list[tuple[int, int] | None],
    name: str = "retinaface_mnet025",
    parity_image: Path | None = None,
    tolerance: float = 1e-4,
    command: str = "",
    precisions: list[str] | None = None,
) -> list[ParityResult]:
    """Write every (format, input size, precision) file into ``out_dir`` with a manifest; raise if any parity check
    fails. Formats skip the sizes and precisions they cannot hold (TFLite: fixed sizes, fp32 only)."""
    precisions = precisions or ["fp32"]
    check_requirements(formats, precisions)
    model, meta = load_checkpoint(checkpoint)
    inference = InferenceModel(model).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[ModelFile] = []
    with tempfile.TemporaryDirectory(prefix="edge_sdk_export_") as scratch:
        ctx = ExportContext(inference, out_dir, name, Path(scratch))
        for fmt in formats:
            spec = FORMATS[fmt]
            for size in input_sizes:
                for precision in precisions:
                    if (size is None and not spec.dynamic_shape) or precision not in spec.precisions:
                        log.info(
                            "%s: no %s %s variant (format cannot hold it), skipped",
                            fmt,
                            precision,
                            "dynamic" if size is None else size,
                        )
                        continue
                    entries += WRITERS[fmt](ctx, size, precision)
    produced_by = {
        "command": command or "python -m export",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": _dt.date.today().isoformat(),
    }
    manifest = write_export_manifest(checkpoint_manifest(out_dir, name, meta, checkpoint, produced_by), entries)

    image = cv2.imread(str(parity_image)) if parity_image else None
    results: list[tuple[ParityResult, float]] = []
    written = {e.path for e in entries}
    for model_file in manifest.files:
        if model_file.path not in written:
            continue
        model_file.verify()
        result = check_parity(inference, manifest, model_file, FORMATS[model_file.format].backend, image)
        log.info(result.line())
        results.append((result, REDUCED_PRECISION_TOLERANCE.get(model_file.precision, tolerance)))
    failed = [r.line() + f" > {limit:g}" for r, limit in results if r.worst > limit]
    if failed:
        raise AssertionError("parity check failed:\n" + "\n".join(failed))
    return [r for r, _ in results]
