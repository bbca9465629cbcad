"""ONNX Runtime backend (CPU execution provider by default; CUDA/TensorRT when asked and installed)."""

from __future__ import annotations

import numpy as np

from ..errors import BackendError, InvalidArgumentError, ModelLoadError
from ..manifest import Manifest, ModelFile
from .base import Backend, import_runtime

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, model: ModelFile, manifest: Manifest, threads: int | None = None, device: str | None = None):
        super().__init__(model, manifest, threads, device)
        ort = import_runtime("onnxruntime", extra="onnx", backend=self.name)
        provider = _PROVIDERS.get((device or "cpu").lower())
        if provider is None:
            raise InvalidArgumentError(f"onnxruntime device must be one of {sorted(_PROVIDERS)}, got {device!r}")
        available = ort.get_available_providers()
        if provider not in available:
            raise InvalidArgumentError(
                f"onnxruntime device {device!r} needs {provider}, not available here; available: {available}"
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model.path), sess_options=options, providers=[provider])
        except Exception as exc:  # onnxruntime raises its own untyped exceptions for bad files
            raise ModelLoadError(f"onnxruntime could not load {model.path.name}: {exc}") from exc
        self.input_name = self.session.get_inputs()[0].name
        names = manifest.output_names
        self.output_names = [names["boxes"], names["scores"], names["landmarks"]]
        present = {o.name for o in self.session.get_outputs()}
        missing = [n for n in self.output_names if n not in present]
        if missing:
            raise ModelLoadError(f"{model.path.name} lacks outputs {missing} named in the manifest (has {sorted(present)})")

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        try:
            return self.session.run(self.output_names, {self.input_name: tensor})
        except Exception as exc:
            raise BackendError(f"onnxruntime failed on input {tensor.shape}: {exc}") from exc
