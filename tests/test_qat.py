"""QAT plumbing on a small input: prepare → distill → convert → ONNX QDQ (onnxruntime) and TFLite int8 (LiteRT)."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import require

torch = require("torch", "the [export] extra")
require("torchao", "the [quantize] extra")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = 160


@pytest.fixture(scope="module")
def inputs(shared_data):
    from training.qat import calibration_inputs, train_images

    return calibration_inputs(train_images(shared_data), SIZE, 4)


def _distilled(kind: str, inputs):
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel
    from training.qat import QUANTIZERS, convert, distill, prepare

    spec = QUANTIZERS[kind]
    teacher = InferenceModel(load_checkpoint()[0]).eval()
    quantizer = spec.make(True)
    student = prepare(InferenceModel(load_checkpoint()[0]), quantizer, SIZE, qat=True)
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(student)
    with torch.no_grad():
        for x in inputs:
            student(x)
    losses = distill(student, teacher, iter(inputs * 2), steps=2, batch_size=2)
    return convert(student, spec), quantizer, teacher, losses


def test_x86_qat_exports_a_qdq_onnx_that_runs_in_onnxruntime(inputs, tmp_path):
    import onnx
    import onnxruntime as ort

    from export.onnx_export import export_onnx

    model, _, teacher, losses = _distilled("x86", inputs)
    assert len(losses) == 2 and all(np.isfinite(losses))
    path = export_onnx(model, tmp_path / "int8.onnx", (SIZE, SIZE))
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    x = inputs[0]
    with torch.no_grad():
        fake_quant = [t.numpy() for t in model(x)]
        fp32 = [t.numpy() for t in teacher(x)]
    out = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})
    # the int8 graph reproduces the converted torch model, and stays close to fp32 on face scores
    assert np.abs(out[1] - fake_quant[1]).max() < 0.05
    assert np.abs(out[1] - fp32[1]).max() < 0.5


def test_litert_qat_converts_to_full_integer_tflite(inputs, tmp_path):
    require("litert_torch", "the [export] extra")
    from ai_edge_litert.interpreter import Interpreter
    from litert_torch.quantize.quant_config import QuantConfig

    from export.tflite_export import export_tflite

    model, quantizer, _, _ = _distilled("litert", inputs)
    path = tmp_path / "int8.tflite"
    names = export_tflite(model, path, (SIZE, SIZE), QuantConfig(pt2e_quantizer=quantizer))
    assert set(names) == {"boxes", "scores", "landmarks"}
    details = Interpreter(model_path=str(path)).get_input_details()[0]
    assert details["dtype"] == np.int8 and details["quantization"][0] > 0  # int8 input with its scale


def test_depthwise_equalization_keeps_the_float_function(inputs):
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel
    from training.qat import equalize_depthwise_inputs

    model = InferenceModel(load_checkpoint()[0]).eval()
    with torch.no_grad():
        before = [t.clone() for t in model(inputs[0])]
    pairs = equalize_depthwise_inputs(model.model, inputs[:2])
    assert pairs >= 8  # every conv → depthwise pair inside the three backbone stages
    with torch.no_grad():
        after = model(inputs[0])
    for b, a in zip(before, after):
        assert torch.allclose(a, b, atol=2e-3, rtol=1e-3), (a - b).abs().max()


def _conv_outputs_quantized(path) -> tuple[int, int]:
    """(convs whose output feeds a QuantizeLinear directly, all convs) of an ONNX QDQ graph."""
    import onnx

    graph = onnx.load(str(path)).graph
    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    convs = [n for n in graph.node if n.op_type == "Conv"]
    return sum(all(c == "QuantizeLinear" for c in consumers.get(n.output[0], [])) for n in convs), len(convs)


def test_x86_variants_differ_exactly_in_the_rounding_before_activations(inputs, tmp_path):
    """``x86`` (OpenVINO) rounds conv outputs only after their activation; ``x86-fused`` (ONNX Runtime) rounds
    every conv output, which is what lets ORT run QLinearConv."""
    from torchao.quantization.pt2e import move_exported_model_to_eval

    from export.onnx_export import export_onnx
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel
    from training.qat import QUANTIZERS, convert, drop_pre_activation_quantizers, prepare

    counts = {}
    for kind in ("x86", "x86-fused"):
        spec = QUANTIZERS[kind]
        student = prepare(InferenceModel(load_checkpoint()[0]), spec.make(True), SIZE, qat=True)
        if spec.drop_pre_activation:
            assert drop_pre_activation_quantizers(student) == 47
        move_exported_model_to_eval(student)
        with torch.no_grad():
            for x in inputs[:2]:
                student(x)
        counts[kind] = _conv_outputs_quantized(export_onnx(convert(student, spec), tmp_path / f"{kind}.onnx", (SIZE, SIZE)))
    fused, total = counts["x86-fused"]
    dropped, _ = counts["x86"]
    assert fused >= total - 9  # all but the 9 head convs (their outputs stay float)
    assert dropped <= total - 9 - 47
