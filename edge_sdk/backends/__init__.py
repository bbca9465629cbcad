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
    package: str  # the runtime's import name
    extra: str  # pip extra that installs it
    formats: tuple[str, ...]  # model file formats it runs, best first

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def load_class(self) -> type[Backend]:
        module = importlib.import_module(f"{__name__}.{self.module}")
        return getattr(module, self.class_name)


# Order = preference of backend="auto" when the model does not decide by itself.
BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("onnxruntime", "onnxruntime_backend", "OnnxRuntimeBackend", "onnxruntime", "onnx", ("onnx",)),
    )
}

ALIASES = {"onnx": "onnxruntime", "ort": "onnxruntime"}


def available_backends() -> list[str]:
    """Backends whose runtime package is installed on this machine, in auto-preference order."""
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
