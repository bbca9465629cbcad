"""The one small interface every inference runtime implements."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from types import ModuleType

import numpy as np

from ..errors import BackendUnavailableError
from ..manifest import Manifest, ModelFile


def import_runtime(package: str, extra: str, backend: str) -> ModuleType:
    """Import a runtime package or raise a typed error that says what to install."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"backend {backend!r} needs the Python package {package!r}, which is not installed: "
            f"pip install 'edge-sdk[{extra}]'  ({exc})"
        ) from exc


class Backend(ABC):
    """Runs one model file. ``run`` takes the (1,3,H,W) float32 input and returns the raw head tensors
    ``[boxes (1,P,4), scores (1,P,2), landmarks (1,P,2K)]`` as float32, in that order.

    Quantized inputs/outputs are (de)quantized inside the backend; callers only ever see float32.
    """

    name: str = ""

    def __init__(self, model: ModelFile, manifest: Manifest, threads: int | None = None, device: str | None = None):
        self.model = model
        self.manifest = manifest
        self.threads = threads
        self.device = device

    @abstractmethod
    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Raw head tensors for one input tensor."""

    def describe(self) -> dict[str, object]:
        """What is running where (for logs, benchmarks and `edge-sdk info`)."""
        return {
            "backend": self.name,
            "file": self.model.path.name,
            "precision": self.model.precision,
            "device": self.device or "CPU",
            "threads": self.threads,
        }
