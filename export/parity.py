"""Parity: the exported file, run through the SDK's own backend, against PyTorch on the same input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edge_sdk.backends import BACKENDS
from edge_sdk.manifest import Manifest, ModelFile
from edge_sdk.model_input import InputWriter
from edge_sdk.preprocess import Letterbox, make_input


@dataclass(frozen=True)
class ParityResult:
    file: str
    backend: str
    input_shape: tuple[int, ...]
    max_abs_diff: dict[str, float]

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values())

    def line(self) -> str:
        diffs = ", ".join(f"{k} {v:.2e}" for k, v in self.max_abs_diff.items())
        return f"parity {self.file} via {self.backend} at {self.input_shape}: max |diff| {diffs}"


# Input size (width, height) of the parity check of a dynamic-shape file: non-square, and a multiple of the bucket
# that the OpenVINO backend pads dynamic inputs to (edge_sdk.backends.shapes), so that every backend runs exactly
# this shape (a padded run differs near the right/bottom edge, like any padding: tested in test_hostile_models.py).
DYNAMIC_PARITY_SIZE = (640, 384)


def parity_image(model_file: ModelFile, image_bgr: np.ndarray | None) -> tuple[np.ndarray, Letterbox]:
    """A real image (or uint8 noise if none) and its letterbox into the file's input size; dynamic models get a
    non-square size."""
    width, height = model_file.input_size or DYNAMIC_PARITY_SIZE
    if image_bgr is None:
        image_bgr = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return image_bgr, Letterbox.fit(image_bgr.shape[1], image_bgr.shape[0], width, height)


def check_parity(
    model: torch.nn.Module, manifest: Manifest, model_file: ModelFile, backend: str, image_bgr: np.ndarray | None = None
) -> ParityResult:
    """PyTorch on the float NCHW input against the file run the way the SDK runs it: the backend's own input
    (:class:`edge_sdk.model_input.InputWriter` for its ``input_spec``: NHWC, quantized or pixels) of the same image."""
    image, box = parity_image(model_file, image_bgr)
    tensor = make_input(image, box, manifest.normalization)
    with torch.no_grad():
        reference = [t.numpy() for t in model(torch.from_numpy(tensor))]
    runner = BACKENDS[backend].load_class()(model_file, manifest)
    backend_input = InputWriter(runner.input_spec, manifest.normalization).prepare(
        [(image, box)], box.canvas_height, box.canvas_width
    )
    outputs = runner.run(backend_input)
    diffs = {
        role: float(np.abs(np.asarray(out, np.float32) - ref).max())
        for role, out, ref in zip(("boxes", "scores", "landmarks"), outputs, reference)
    }
    return ParityResult(Path(model_file.path).name, backend, tuple(tensor.shape), diffs)
