"""ONNX Runtime backend (CPU execution provider by default; CUDA/TensorRT when asked and installed)."""

from __future__ import annotations

import numpy as np

from ..errors import BackendError, InvalidArgumentError, ModelLoadError
from ..manifest import Manifest, ModelFile
from .base import Backend, OutputInfo, batch_limit, import_runtime

_PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    thread_safe = True  # InferenceSession.run is documented as safe to call concurrently

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
        content = self.model_bytes().content
        try:
            self.session = ort.InferenceSession(content, sess_options=options, providers=[provider])
        except Exception as exc:  # onnxruntime raises its own untyped exceptions for bad files
            raise ModelLoadError(f"onnxruntime could not load {model.path.name}: {exc}") from exc
        self.input_name = self.session.get_inputs()[0].name
        self.max_batch = batch_limit(self.session.get_inputs()[0].shape[0])
        outputs = self.session.get_outputs()
        order = self.match_outputs([OutputInfo((o.name,), _shape(o.shape)) for o in outputs])
        self.output_names = [outputs[i].name for i in order]

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        try:
            return self.session.run(self.output_names, {self.input_name: tensor})
        except Exception as exc:
            raise BackendError(f"onnxruntime failed on input {tensor.shape}: {exc}") from exc


def _shape(shape: list[object]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)  # symbolic dimensions are strings
