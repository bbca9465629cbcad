"""TFLite backend (LiteRT): ``ai_edge_litert``'s interpreter, or ``tflite_runtime``'s (same API) where only that is
installed. CPU with XNNPACK; int8 models get their float input quantized and their outputs dequantized here."""

from __future__ import annotations

import logging

import numpy as np

from ..errors import BackendError, InvalidArgumentError, ModelLoadError
from ..input_spec import InputSpec
from ..manifest import Manifest, ModelFile
from .base import Backend, OutputInfo, QuantParams, batch_limit, dequantize, import_runtime, quantize

log = logging.getLogger(__name__)

# Import names of interchangeable interpreters, preferred first. tflite_runtime 2.14 (the last for Python 3.11)
# needs numpy < 2 and runs int8 much slower: a fallback only.
INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
_DEVICES = ("CPU",)


class TfliteBackend(Backend):
    name = "tflite"

    def __init__(self, model: ModelFile, manifest: Manifest, threads: int | None = None, device: str | None = None):
        super().__init__(model, manifest, threads, device)
        if (device or "CPU").upper() not in _DEVICES:
            raise InvalidArgumentError(f"tflite device must be one of {list(_DEVICES)}, got {device!r}")
        runtime = import_runtime(INTERPRETER_MODULES, extra="tflite", backend=self.name)
        self._content = self.model_bytes().content  # kept: the interpreter reads the model from this buffer
        try:
            self.interpreter = runtime.Interpreter(model_content=self._content, num_threads=threads)
            self.interpreter.allocate_tensors()
        except Exception as exc:  # the interpreter raises ValueError/RuntimeError for bad files
            raise ModelLoadError(f"tflite could not load {model.path.name}: {exc}") from exc
        inputs = self.interpreter.get_input_details()
        if len(inputs) != 1:
            raise ModelLoadError(f"{model.path.name} has {len(inputs)} inputs, expected 1")
        self._input = inputs[0]
        self._input_quant = _quant_params(self._input)
        self.input_spec = _input_spec(self._input_quant, manifest.layout_of(model), self.input_shape, model.path.name)
        self.max_batch = batch_limit(self.input_shape[0])
        outputs = self.interpreter.get_output_details()
        # TFLite converters name outputs their own way: the manifest entry records them; a file from elsewhere is
        # matched by shape.
        order = self.match_outputs(
            [OutputInfo((d["name"],), tuple(int(v) for v in d["shape"])) for d in outputs], by_shape=True
        )
        self._outputs = [(outputs[i]["index"], _quant_params(outputs[i])) for i in order]
        log.info(
            "tflite %s via %s: %s (input %s)",
            model.path.name,
            runtime.__name__,
            self.describe(),
            "float" if self._input_quant is None else self._input_quant,
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self._input["shape"])

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        if tuple(tensor.shape) != self.input_shape:
            raise BackendError(
                f"tflite model {self.model.path.name} takes input {self.input_shape}, got {tuple(tensor.shape)}"
            )
        try:  # the interpreter holds its tensors (so not thread-safe: the caller serializes)
            self.interpreter.set_tensor(self._input["index"], quantize(tensor, self._input_quant))
            self.interpreter.invoke()
            return [dequantize(self.interpreter.get_tensor(index), quant) for index, quant in self._outputs]
        except Exception as exc:
            raise BackendError(f"tflite failed on input {tensor.shape}: {exc}") from exc

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["quantized_io"] = self._input_quant is not None or any(q is not None for _, q in self._outputs)
        return info


def _input_spec(quant: QuantParams | None, layout: str, shape: tuple[int, ...], file: str) -> InputSpec:
    """The input the file takes: its layout from the manifest (checked against the tensor's shape), float32 or
    quantized to its integer type (the detector then writes the quantized values directly)."""
    channels = shape[1] if layout == "NCHW" else shape[-1]
    if len(shape) != 4 or channels != 3:
        raise ModelLoadError(f"{file}: the manifest says input layout {layout}, but the file's input has shape {shape}")
    if quant is None:
        return InputSpec("float", layout)
    return InputSpec("quantized", layout, quant.scale, quant.zero_point, quant.dtype.name)


def _quant_params(details: dict) -> QuantParams | None:
    scale, zero_point = details.get("quantization", (0.0, 0))
    return QuantParams.from_details(scale, zero_point, details["dtype"])
