"""Backend registry: one row per runtime. Adding a backend means one module and one row here."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from ..errors import InvalidArgumentError
from .base import Backend, import_runtime


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str  # edge_sdk.backends.<module>
    class_name: str
    packages: tuple[str, ...]  # import names of the runtime (any one of them will do)
    extra: str  # pip extra that installs it
    formats: tuple[str, ...]  # model file formats it runs, best first

    def is_installed(self) -> bool:
        return any(_findable(p) for p in self.packages)

    def load_class(self) -> type[Backend]:
        module = importlib.import_module(f"{__name__}.{self.module}")
        return getattr(module, self.class_name)


def _findable(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # an import hook that refuses it, a broken half-imported package
        return False


# One row per runtime. backend="auto" does not follow this order: it takes the tuned choice of this machine
# (edge_sdk.tuning), else edge_sdk.detector.AUTO_ORDER (measured, docs/BENCHMARKS.md).
BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "tflite", "tflite_backend", "TfliteBackend", ("ai_edge_litert", "tflite_runtime"), "tflite", ("tflite",)
        ),
        BackendSpec("openvino", "openvino_backend", "OpenVinoBackend", ("openvino",), "openvino", ("openvino",)),
        BackendSpec("onnxruntime", "onnxruntime_backend", "OnnxRuntimeBackend", ("onnxruntime",), "onnx", ("onnx",)),
    )
}

ALIASES = {
    "onnx": "onnxruntime",
    "ort": "onnxruntime",
    "ov": "openvino",
    "litert": "tflite",
    "tflite_runtime": "tflite",
    "ai_edge_litert": "tflite",
}


def available_backends() -> list[str]:
    """Backends whose runtime package is installed on this machine (registry order)."""
    return [name for name, spec in BACKENDS.items() if spec.is_installed()]


def resolve_backend_name(name: str) -> str:
    """Canonical backend name, or a typed error with the closest known name."""
    key = ALIASES.get(name.lower(), name.lower())
    if key in BACKENDS or key == "auto":
        return key
    import difflib

    known = sorted([*BACKENDS, *ALIASES, "auto"])
    close = difflib.get_close_matches(name.lower(), known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidArgumentError(f"unknown backend {name!r}; known: {known}.{hint}")


__all__ = ["BACKENDS", "Backend", "BackendSpec", "available_backends", "import_runtime", "resolve_backend_name"]
