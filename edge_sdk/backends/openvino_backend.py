"""OpenVINO backend: IR (.xml + .bin) on Intel CPUs, iGPUs and NPUs (devices ``CPU``, ``GPU``, ``NPU``, ``AUTO``).

The inference precision is always set explicitly: on CPUs with bf16 support OpenVINO otherwise runs fp32 models in
bf16 (up to 1.0 off in a box offset, 1.6 in a landmark offset here), and GPUs default to f16. fp32 and fp16-weight
models run in f32 unless ``inference_precision`` says otherwise ("bf16", "f16" trade accuracy for speed on purpose).
So do the layers of an int8 file that stay float (input normalization, upsampling, softmax): left to the device
default they ran in bf16 on a bf16 CPU, and the same file gave other outputs there than on any other CPU (up to 0.024
in a face score, 0.32 in a landmark offset on 10 WIDER canvases) for no speed (``python -m benchmarks.openvino_graph``).

Two load-time rewrites of the graph, each bit-identical to the model as written: the uint8 canvas goes straight in
(:func:`_with_pixel_input`), and a softmax over a short last axis (the score head's (1, P, 2)) runs between two
transposes (:func:`_with_softmax_on_a_long_axis`).

The model is read from the verified bytes (``Backend.model_bytes``): the IR's .xml and the .bin that the manifest
lists and checksums, handed over from memory. (Given a path, OpenVINO would load whatever .bin sits beside the .xml.)

Dynamic-shape (H x W) models run each input padded up to a bucket shape (:mod:`edge_sdk.backends.shapes`): the CPU
plugin prepares kernels per input shape and pays on every shape change, so a stream of ever-new frame sizes grew
memory by 100-150 MB and ran 2-3.5x slower than ONNX Runtime; buckets leave a few shapes, held by its shape cache.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import numpy as np

from ..errors import BackendError, InvalidArgumentError, ModelLoadError
from ..input_spec import PIXELS_NHWC
from ..manifest import Manifest, ModelBytes, ModelFile
from ..model_input import integer_mean, pad_value
from ..preprocess import Normalization
from .base import Backend, OutputInfo, import_runtime
from .shapes import SHAPE_MULTIPLE, ShapeBuckets, crop_outputs, pad_to

log = logging.getLogger(__name__)

# Virtual devices pick or combine physical ones (and forward the hints below to them); they are never listed in
# Core.available_devices.
_VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")
_THREADED_DEVICES = ("CPU", "AUTO")  # devices that take INFERENCE_NUM_THREADS (AUTO passes it on to CPU)
# Model file precision → inference precision hint by default.
_DEFAULT_INFERENCE_PRECISION = {"fp32": "f32", "fp16": "f32", "int8": "f32"}
# Input shapes whose prepared kernels the CPU plugin keeps for a dynamic-shape model. Its default (5000) grows
# memory by ~3-4 MB per distinct frame size (~550 MB after 120 sizes here); 16 holds every bucket shape of frames up
# to 512 px (4 x 4) and matches the detector's prior cache.
CPU_SHAPE_CACHE = 16
# Batch sizes whose compiled static-shape model is kept for a dynamic-batch, fixed-size model (a stream uses one or
# two).
_BATCH_SIZES_KEPT = 4


class OpenVinoBackend(Backend):
    name = "openvino"
    # Dynamic H x W inputs are padded up to a multiple of this, coarsened when a stream uses more shapes than the CPU
    # plugin's shape cache holds (ShapeBuckets); None: every input at its own shape.
    shape_multiple: int | None = SHAPE_MULTIPLE
    # Take the uint8 BGR canvas and let the compiled model convert, reorder and normalize it (PrePostProcessor):
    # it costs the runtime ~0.1-0.3 ms and saves the ~1 ms float pass in numpy. False: normalized float32 input.
    pixel_input: bool = True
    # Move a softmax over a short last axis onto the axis before it (see _with_softmax_on_a_long_axis).
    softmax_on_a_long_axis: bool = True

    def __init__(
        self,
        model: ModelFile,
        manifest: Manifest,
        threads: int | None = None,
        device: str | None = None,
        inference_precision: str | None = None,
        pixel_input: bool | None = None,
        softmax_on_a_long_axis: bool | None = None,
    ):
        super().__init__(model, manifest, threads, (device or "CPU").upper())
        ov = import_runtime("openvino", extra="openvino", backend=self.name)
        core = ov.Core()
        _check_device(self.device, list(core.available_devices))
        self.inference_precision = inference_precision or _DEFAULT_INFERENCE_PRECISION.get(model.precision)
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.inference_precision:
            config["INFERENCE_PRECISION_HINT"] = self.inference_precision
        if model.dynamic and self.device == "CPU":
            config["CPU_RUNTIME_CACHE_CAPACITY"] = CPU_SHAPE_CACHE
        if threads and self.device.split(":")[0].split(".")[0] in _THREADED_DEVICES:
            config["INFERENCE_NUM_THREADS"] = threads
        elif threads:
            log.info("openvino device %s has no thread setting; threads=%d ignored", self.device, threads)
        self._core, self._config = core, config
        files = self.model_bytes()
        weights = _weights_of(model, files)
        try:
            self._model = (
                core.read_model(files.content)
                if weights is None
                # a single-file format (ONNX)
                else core.read_model(
                    model=files.content.decode("utf-8"),
                    weights=ov.Tensor(np.frombuffer(weights, dtype=np.uint8).copy()),
                )
            )
            wants_pixels = self.pixel_input if pixel_input is None else pixel_input
            if wants_pixels and integer_mean(manifest.normalization) and manifest.layout_of(model) == "NCHW":
                self._model = _with_pixel_input(ov, self._model, manifest.normalization)
                self.input_spec = PIXELS_NHWC
            moves_softmax = self.softmax_on_a_long_axis if softmax_on_a_long_axis is None else softmax_on_a_long_axis
            self.softmaxes_moved = _with_softmax_on_a_long_axis(self._model) if moves_softmax else 0
            input_shape = self._model.inputs[0].get_partial_shape()
            # A dynamic batch over a fixed H x W: compile one static-shape model per batch size asked for (static
            # shapes run ~10 % faster than the dynamic-batch model at batch 1); a dynamic H x W model is compiled as is.
            self._static_per_batch = input_shape[0].is_dynamic and all(d.is_static for d in list(input_shape)[1:])
            self.max_batch = None if input_shape[0].is_dynamic else input_shape[0].get_length()
            self._spatial = (1, 2) if self.input_spec.layout == "NHWC" else (2, 3)
            dynamic_size = any(input_shape[axis].is_dynamic for axis in self._spatial)
            self.buckets = (
                ShapeBuckets(self.shape_multiple, CPU_SHAPE_CACHE) if dynamic_size and self.shape_multiple else None
            )
            self._requests: OrderedDict[int | None, object] = OrderedDict()
            self.compiled = self._compile(1 if self._static_per_batch else None)
        except Exception as exc:  # openvino raises bare RuntimeErrors for bad files and unsupported settings
            raise ModelLoadError(
                f"openvino could not compile {model.path.name} for {self.device} with {config}: {exc}"
            ) from exc
        self._pad_value = pad_value(self.input_spec, manifest.normalization)
        self._output_index = self.match_outputs(
            [OutputInfo(tuple(sorted(o.get_names())), _shape(o)) for o in self.compiled.outputs]
        )
        log.info("openvino %s on %s: %s", model.path.name, self.device, self.describe())

    def _compile(self, batch: int | None) -> object:
        """Compile (and remember an infer request for) the model at a fixed ``batch``, or as it is for None."""
        model = self._model
        if batch is not None:
            model = self._model.clone()
            shape = [batch, *[d.get_length() for d in list(self._model.inputs[0].get_partial_shape())[1:]]]
            model.reshape({self._model.inputs[0].get_any_name(): shape})
        compiled = self._core.compile_model(model, self.device, self._config)
        self._requests[batch] = compiled.create_infer_request()
        while len(self._requests) > _BATCH_SIZES_KEPT:
            self._requests.popitem(last=False)
        return compiled

    def _request_for(self, batch: int) -> object:
        key = batch if self._static_per_batch else None
        request = self._requests.get(key)
        if request is None:
            self._compile(key)
            request = self._requests[key]
        self._requests.move_to_end(key)
        return request

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        if np.ndim(tensor) != 4:
            raise BackendError(f"openvino takes a 4-D {self.input_spec.layout} input, got shape {np.shape(tensor)}")
        height, width = (int(tensor.shape[axis]) for axis in self._spatial)
        padded_height, padded_width = self.buckets.shape_for(height, width) if self.buckets else (height, width)
        padded = pad_to(tensor, padded_height, padded_width, self.input_spec.layout, self._pad_value)
        try:  # infer requests are reused (so not thread-safe: the caller serializes)
            result = self._request_for(int(tensor.shape[0])).infer({0: padded}, share_inputs=True)
            outputs = [np.asarray(result[i], dtype=np.float32) for i in self._output_index]
        except Exception as exc:
            raise BackendError(f"openvino failed on input {tensor.shape}: {exc}") from exc
        return crop_outputs(outputs, self.manifest.anchors, height, width, padded_height, padded_width)

    def describe(self) -> dict[str, object]:
        info = super().describe()
        info["inference_precision"] = self.inference_precision or "device default"
        info["shape_multiple"] = self.buckets.multiple if self.buckets else None
        info["softmaxes_moved"] = self.softmaxes_moved
        return info


def _with_pixel_input(ov: object, model: object, norm: Normalization) -> object:
    """``model`` (NCHW, normalized float input) taking the uint8 BGR canvas (NHWC) instead: element type conversion,
    channel reversal for RGB models, mean and scale compiled into the graph by OpenVINO's PrePostProcessor."""
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input().preprocess().convert_element_type(ov.Type.f32)
    if norm.channel_order == "RGB":
        steps.reverse_channels()
    steps.mean([float(m) for m in norm.mean])
    if any(s != 1.0 for s in norm.std):
        steps.scale([float(s) for s in norm.std])
    return ppp.build()


# A softmax whose last axis is at most this long is moved (the score head's is 2).
SHORT_SOFTMAX_AXIS = 8


def _with_softmax_on_a_long_axis(model: object) -> int:
    """Rewrite, in place, each Softmax over a short static last axis as Transpose → Softmax over the axis before it →
    Transpose back; returns how many were rewritten.

    Why: the CPU plugin vectorizes a softmax along its own axis, so the score head's softmax over (1, P, 2) used a
    sliver of each vector and took ~0.3 ms at 640 (5 % of the int8 call here); over the long axis it takes ~0.05 ms,
    transposes included. The values are bit-identical (the same per-row arithmetic), checked on real images by
    tests/test_backends.py and timed by ``python -m benchmarks.openvino_graph``."""
    try:
        import openvino.opset13 as ops
    except ImportError:  # releases before the opsets moved out of openvino.runtime (gone in 2026)
        import openvino.runtime.opset13 as ops

    moved = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "Softmax":
            continue
        shape = node.get_output_partial_shape(0)
        rank = shape.rank.get_length() if shape.rank.is_static else 0
        if rank < 2 or int(node.get_attributes()["axis"]) % rank != rank - 1:
            continue
        last = shape[rank - 1]
        if not last.is_static or last.get_length() > SHORT_SOFTMAX_AXIS:
            continue
        swap = ops.constant(np.array([*range(rank - 2), rank - 1, rank - 2], dtype=np.int64))
        moved_softmax = ops.transpose(ops.softmax(ops.transpose(node.input_value(0), swap), rank - 2), swap)
        for consumer in list(node.output(0).get_target_inputs()):
            consumer.replace_source_output(moved_softmax.output(0))
        moved += 1
    if moved:
        model.validate_nodes_and_infer_types()
    return moved


def _weights_of(model: ModelFile, files: ModelBytes) -> bytes | None:
    """The verified bytes of an IR's .bin (listed in the manifest entry's extra files); None for a single-file model."""
    if model.path.suffix.lower() != ".xml":
        return None
    weights = [
        content for path, content in zip(model.extra_files, files.extra_content) if path.suffix.lower() == ".bin"
    ]
    if len(weights) != 1:
        raise ModelLoadError(
            f"{model.path.name}: an OpenVINO IR needs exactly one .bin weights file in its manifest entry's "
            f"extra_files, found {[p.name for p in model.extra_files]}"
        )
    return weights[0]


def _check_device(device: str, available: list[str]) -> None:
    """A physical device (``GPU`` or ``GPU.1``) must be present; virtual ones (``AUTO``, ``AUTO:GPU,CPU``) are checked
    by OpenVINO itself when compiling."""
    if device.split(":")[0] in _VIRTUAL_DEVICES:
        return
    if not any(d == device or d.split(".")[0] == device for d in available):
        raise InvalidArgumentError(
            f"openvino device {device!r} is not available here; available: {available} "
            f"(or a virtual device: {', '.join(_VIRTUAL_DEVICES)})"
        )


def _shape(port: object) -> tuple[int | None, ...]:
    return tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
