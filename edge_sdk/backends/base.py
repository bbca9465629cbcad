"""The one small interface every inference runtime implements, and the logic the runtimes share:
importing a runtime lazily, reading the verified model bytes, matching a model's outputs to their roles, and
(de)quantizing integer tensors."""

from __future__ import annotations

import importlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .._version import install_hint
from ..errors import BackendUnavailableError, ModelLoadError
from ..input_spec import FLOAT_NCHW, InputSpec
from ..manifest import OUTPUT_ROLES, Manifest, ModelBytes, ModelFile
from ..model_input import quantize_values

log = logging.getLogger(__name__)


def import_runtime(package: str | Sequence[str], extra: str, backend: str) -> ModuleType:
    """Import a runtime package (the first importable of several alternatives with the same API) or raise a
    typed error that says what to install."""
    candidates = [package] if isinstance(package, str) else list(package)
    errors: list[str] = []
    for name in candidates:
        try:
            return importlib.import_module(name)
        except ImportError as exc:  # also covers a wheel built against another numpy ABI
            errors.append(f"{name}: {exc}")
    raise BackendUnavailableError(
        f"backend {backend!r} needs the Python package {candidates[0]!r}, which is not installed: "
        f"{install_hint(extra)}  ({'; '.join(errors)})"
    )


@dataclass(frozen=True)
class OutputInfo:
    """One output tensor as a runtime reports it: its name(s) and shape (None for a dynamic dimension)."""

    names: tuple[str, ...]
    shape: tuple[int | None, ...]


def match_outputs(
    outputs: Sequence[OutputInfo], wanted: dict[str, str], last_dims: dict[str, int] | None, file: str
) -> list[int]:
    """Indices into ``outputs`` of the boxes, scores and landmarks tensors, in that order.

    By name (``wanted``: role → tensor name, from the manifest). Only when ``last_dims`` is given (formats whose
    converters rename outputs) and the names are not there: by the last dimension of each role (e.g. boxes 4,
    scores 2, landmarks 10), which must then be unambiguous.
    """
    by_name = {name: i for i, o in enumerate(outputs) for name in o.names}
    missing = [wanted[role] for role in OUTPUT_ROLES if wanted[role] not in by_name]
    if not missing:
        return [by_name[wanted[role]] for role in OUTPUT_ROLES]
    if last_dims is not None:
        by_dim: dict[int | None, list[int]] = {}
        for i, o in enumerate(outputs):
            by_dim.setdefault(o.shape[-1] if len(o.shape) == 3 else None, []).append(i)
        found = [by_dim.get(last_dims[role], []) for role in OUTPUT_ROLES]
        if len(set(last_dims.values())) == len(OUTPUT_ROLES) and all(len(f) == 1 for f in found):
            log.warning(
                "%s: outputs %s are not named as in the manifest %s; matched them by shape",
                file,
                [o.names for o in outputs],
                wanted,
            )
            return [f[0] for f in found]
    raise ModelLoadError(
        f"{file} lacks outputs {missing} named in the manifest (has {[(o.names, o.shape) for o in outputs]}"
        + (f"; no unambiguous match by last dimension {last_dims} either)" if last_dims else ")")
    )


@dataclass(frozen=True)
class QuantParams:
    """Affine quantization of an integer tensor: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int
    dtype: np.dtype

    @classmethod
    def from_details(cls, scale: float, zero_point: int, dtype: type | np.dtype) -> QuantParams | None:
        """None for a float tensor (or a tensor without quantization parameters)."""
        dtype = np.dtype(dtype)
        if dtype.kind == "f" or not scale:
            return None
        return cls(float(scale), int(zero_point), dtype)


def quantize(x: np.ndarray, params: QuantParams | None) -> np.ndarray:
    """Float → the integer type of ``params`` (round half to even, saturated); unchanged when ``params`` is None.
    An input already in that integer type (written quantized by :class:`edge_sdk.model_input.InputWriter`) passes
    through as it is."""
    if params is None:
        return np.ascontiguousarray(x, dtype=np.float32)
    if x.dtype == params.dtype:
        return np.ascontiguousarray(x)
    return quantize_values(x, params.scale, params.zero_point, params.dtype)


def batch_limit(dimension: object) -> int | None:
    """A model input's batch dimension as a runtime reports it → ``Backend.max_batch`` (None when dynamic)."""
    return int(dimension) if isinstance(dimension, (int, np.integer)) and int(dimension) > 0 else None


def dequantize(q: np.ndarray, params: QuantParams | None) -> np.ndarray:
    """Integer tensor → float32 (a float tensor passes through as float32)."""
    if params is None:
        return np.asarray(q, dtype=np.float32)
    return ((q.astype(np.float32) - np.float32(params.zero_point)) * np.float32(params.scale)).astype(np.float32)


class Backend(ABC):
    """Runs one model file. ``run`` takes the input tensor its :attr:`input_spec` describes — (N,3,H,W) normalized
    float32 unless the backend says otherwise — and returns the raw head tensors
    ``[boxes (N,P,4), scores (N,P,2), landmarks (N,P,2K)]`` as float32, in that order.

    Quantized outputs are dequantized inside the backend; callers only ever see float32. A quantized input is taken
    either as float32 (quantized here) or already quantized (what the detector writes, :mod:`edge_sdk.model_input`).
    ``thread_safe`` says whether ``run`` may be called from several threads at once; when it is False the caller
    serializes the calls (FaceDetector does). ``max_batch`` is the largest N the model file takes: None when its
    batch dimension is dynamic, 1 for files exported with a fixed batch of one.
    """

    name: str = ""
    thread_safe: bool = False
    max_batch: int | None = 1
    input_spec: InputSpec = FLOAT_NCHW

    def __init__(self, model: ModelFile, manifest: Manifest, threads: int | None = None, device: str | None = None):
        self.model = model
        self.manifest = manifest
        self.threads = threads
        self.device = device

    @abstractmethod
    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """Raw head tensors for one (N,3,H,W) input tensor."""

    def model_bytes(self) -> ModelBytes:
        """The model file's bytes (and its extra files', e.g. OpenVINO's weights), each read once and checked against
        its sha256 in the manifest. Runtimes are given these bytes, never the path: the bytes verified are the bytes
        that run (a path re-opened after the check could be another file)."""
        return self.model.read_verified()

    def match_outputs(self, outputs: Sequence[OutputInfo], by_shape: bool = False) -> list[int]:
        """:func:`match_outputs` with this model's names (and head widths when ``by_shape``)."""
        last_dims = None
        if by_shape:
            last_dims = {
                "boxes": 4,
                "scores": self.manifest.num_classes,
                "landmarks": 2 * self.manifest.anchors.num_landmarks,
            }
        return match_outputs(outputs, self.manifest.output_names_for(self.model), last_dims, self.model.path.name)

    def describe(self) -> dict[str, object]:
        """What is running where (for logs, benchmarks and `edge-sdk info`)."""
        return {
            "backend": self.name,
            "file": self.model.path.name,
            "precision": self.model.precision,
            "device": self.device or "CPU",
            "threads": self.threads,
            "max_batch": self.max_batch,
        }
