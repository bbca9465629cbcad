"""Post-training static quantization baselines (the bar QAT must clear), each with its runtime's own tool:

- ONNX Runtime ``quantize_static``: QDQ, per-channel int8 weights, uint8 activations, MinMax calibration.
- NNCF ``nncf.quantize`` on the OpenVINO model (default preset: symmetric int8 weights, per-tensor activations).

Both calibrate on the same letterboxed images (see ``training.qat.calibration_inputs``). The TFLite PTQ baseline
is PT2E ``prepare_pt2e`` + calibration with litert-torch's quantizer (``training.qat.post_training_quantization``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def ptq_onnxruntime(fp32_onnx: Path, out: Path, calibration: Sequence[np.ndarray]) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(calibration)

        def get_next(self):
            item = next(self._items, None)
            return None if item is None else {"input": np.asarray(item, np.float32)}

    prepared = out.with_name(out.stem + ".pre.onnx")
    # ORT's symbolic shape inference gives up on the dynamic-shape graph ("Incomplete symbolic shape inference" at
    # the FPN's Resize); ONNX shape inference and the graph optimization still run
    quant_pre_process(str(fp32_onnx), str(prepared), skip_symbolic_shape=_has_dynamic_size(fp32_onnx))
    quantize_static(
        str(prepared),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    prepared.unlink(missing_ok=True)
    log.info("wrote %s (onnxruntime quantize_static)", out)
    return out


def _has_dynamic_size(path: Path) -> bool:
    import onnx

    dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return any(not d.HasField("dim_value") for d in dims[2:])


def ptq_openvino(fp32_model: Path, out_xml: Path, calibration: Sequence[np.ndarray]) -> Path:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(fp32_model))
    quantized = nncf.quantize(model, nncf.Dataset(list(calibration)), subset_size=len(calibration))
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)
    log.info("wrote %s (nncf.quantize)", out_xml)
    return out_xml
