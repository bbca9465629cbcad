"""Export a checkpoint to the requested formats, write the manifest, check parity of every written file."""

from __future__ import annotations

import datetime as _dt
import logging
import platform
from pathlib import Path
from typing import Callable

import cv2
import torch

from edge_sdk.manifest import load_manifest
from training.checkpoint import load_checkpoint
from training.model import InferenceModel

from .formats import FORMATS
from .manifest_writer import file_entry, write_manifest
from .onnx_export import OPSET, export_onnx
from .parity import ParityResult, check_parity

log = logging.getLogger(__name__)

# format → (backend that runs it for the parity check, writer(model, directory, stem, input_size) → entries)
Writer = Callable[[torch.nn.Module, Path, str, "tuple[int, int] | None"], list[dict]]


def _write_onnx(model: torch.nn.Module, directory: Path, stem: str, input_size: tuple[int, int] | None) -> list[dict]:
    path = export_onnx(model, directory / f"{stem}{FORMATS['onnx'].suffix}", input_size)
    return [file_entry(directory, path, "onnx", "fp32", input_size, exporter=f"torch.onnx dynamo, opset {OPSET}")]


WRITERS: dict[str, tuple[str, Writer]] = {
    "onnx": ("onnxruntime", _write_onnx),
}


def _stem(name: str, input_size: tuple[int, int] | None) -> str:
    return f"{name}_{'dynamic' if input_size is None else f'{input_size[0]}x{input_size[1]}'}"


def export_model(
    checkpoint: Path,
    out_dir: Path,
    formats: list[str],
    input_sizes: list[tuple[int, int] | None],
    name: str = "retinaface_mnet025",
    parity_image: Path | None = None,
    tolerance: float = 1e-4,
    command: str = "",
) -> list[ParityResult]:
    """Write every (format, input size) file into ``out_dir`` with a manifest; raise if any parity check fails."""
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ValueError(f"unknown formats {unknown}; known: {sorted(WRITERS)}")
    model, meta = load_checkpoint(checkpoint)
    inference = InferenceModel(model).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    for fmt in formats:
        for size in input_sizes:
            if size is None and not FORMATS[fmt].dynamic_shape:
                continue
            entries += WRITERS[fmt][1](inference, out_dir, _stem(name, size), size)
    produced_by = {
        "command": command or "python -m export",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": _dt.date.today().isoformat(),
    }
    write_manifest(out_dir, name, meta, checkpoint, entries, produced_by)

    manifest = load_manifest(out_dir)
    image = cv2.imread(str(parity_image)) if parity_image else None
    results = []
    written = {e["path"] for e in entries}
    for model_file in manifest.files:
        if model_file.path.relative_to(out_dir).as_posix() not in written:
            continue
        result = check_parity(inference, manifest, model_file, WRITERS[model_file.format][0], image)
        log.info(result.line())
        results.append(result)
    failed = [r for r in results if r.worst > tolerance]
    if failed:
        raise AssertionError("parity check failed:\n" + "\n".join(r.line() for r in failed))
    return results
