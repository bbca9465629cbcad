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


@pytest.fixture(scope="module")
def int8_dir(inputs, tmp_path_factory):
    """Two QAT models (x86-fused traced with dynamic H/W; litert) handed to ``export.int8`` the way
    ``training.qat.run`` does it, written as ONNX (160 and dynamic), OpenVINO IR (160) and TFLite (160) files of
    precision "int8-ptq" into a copy of the bundled model directory, and added to its manifest (~2 min: the exports
    of the quantized graphs are the slow part)."""
    require("openvino", "the [openvino] extra")
    require("litert_torch", "the [export] extra")
    from export.int8 import QuantizedModel, write_quantized
    from export.manifest_writer import add_files
    from training.checkpoint import DEFAULT_CHECKPOINT

    from .conftest import copy_bundled_model

    model_dir = copy_bundled_model(tmp_path_factory.mktemp("int8"), "qat")
    x86, _, _, _, _ = _distilled("x86-fused", inputs, dynamic_size=True)
    litert, quantizer, _, _, _ = _distilled("litert", inputs)
    files = write_quantized(model_dir, "onnx", QuantizedModel(x86, "QAT test"), [(SIZE, SIZE), None], "int8-ptq")
    files += write_quantized(model_dir, "openvino", QuantizedModel(x86, "QAT test"), [(SIZE, SIZE)], "int8-ptq")
    files += write_quantized(
        model_dir, "tflite", QuantizedModel(litert, "QAT test", quantizer), [(SIZE, SIZE)], "int8-ptq"
    )
    add_files(model_dir, files, DEFAULT_CHECKPOINT)
    return model_dir, {f.path.name: f for f in files}


def _distilled(kind: str, inputs, learn_ranges: bool = False, dynamic_size: bool = False):
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel
    from training.qat import QUANTIZERS, convert, distill, make_ranges_learnable, prepare

    spec = QUANTIZERS[kind]
    teacher = InferenceModel(load_checkpoint()[0]).eval()
    quantizer = spec.make(True)
    student = prepare(InferenceModel(load_checkpoint()[0]), quantizer, SIZE, qat=True, dynamic_size=dynamic_size)
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(student)
    with torch.no_grad():
        for x in inputs:
            student(x)
    if learn_ranges:
        make_ranges_learnable(student)
    losses = distill(student, teacher, iter(inputs * 2), steps=2, batch_size=2, range_lr=0.02)
    return convert(student, spec), quantizer, teacher, losses, student


def test_x86_qat_exports_a_qdq_onnx_that_runs_in_onnxruntime(inputs, tmp_path):
    import onnx
    import onnxruntime as ort

    from export.onnx_export import export_onnx

    model, _, teacher, losses, _ = _distilled("x86", inputs)
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


def test_litert_qat_converts_to_full_integer_tflite(int8_dir):
    from ai_edge_litert.interpreter import Interpreter

    _, files = int8_dir
    tflite = files["retinaface_mnet025_160x160_int8-ptq.tflite"]
    assert set(tflite.output_names) == {"boxes", "scores", "landmarks"}
    details = Interpreter(model_path=str(tflite.path)).get_input_details()[0]
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
        counts[kind] = _conv_outputs_quantized(
            export_onnx(convert(student, spec), tmp_path / f"{kind}.onnx", (SIZE, SIZE))
        )
    fused, total = counts["x86-fused"]
    dropped, _ = counts["x86"]
    assert fused >= total - 9  # all but the 9 head convs (their outputs stay float)
    assert dropped <= total - 9 - 47


def test_learned_ranges_move_and_land_in_the_int8_graph(inputs, tmp_path):
    """``make_ranges_learnable`` swaps every per-tensor activation fake-quant for an LSQ one that starts at the
    observed range; fine-tuning moves the scales, and the converted graph quantizes with the learned scale."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    from torchao.quantization.pt2e import FakeQuantize, LearnableFakeQuantize, move_exported_model_to_eval

    from export.onnx_export import export_onnx
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel
    from training.qat import QUANTIZERS, make_ranges_learnable, prepare

    probe = prepare(InferenceModel(load_checkpoint()[0]), QUANTIZERS["x86-fused"].make(True), SIZE, qat=True)
    move_exported_model_to_eval(probe)
    with torch.no_grad():
        probe(inputs[0])
    per_tensor = {
        n for n, m in probe.named_modules() if isinstance(m, FakeQuantize) and m.qscheme == torch.per_tensor_affine
    }
    start = {n: float(getattr(probe, n).scale) for n in per_tensor}
    assert make_ranges_learnable(probe) == len(per_tensor) > 40
    assert all(isinstance(getattr(probe, n), LearnableFakeQuantize) for n in per_tensor)
    assert {n: float(getattr(probe, n).scale.detach()) for n in per_tensor} == start  # starts from the observed range

    model, _, _, losses, student = _distilled("x86-fused", inputs, learn_ranges=True)
    assert all(np.isfinite(losses))
    learned = [m for m in student.modules() if isinstance(m, LearnableFakeQuantize)]
    assert learned and not any(
        isinstance(m, FakeQuantize) and m.qscheme == torch.per_tensor_affine for m in student.modules()
    )
    path = export_onnx(model, tmp_path / "lsq.onnx", (SIZE, SIZE))
    graph = onnx.load(str(path)).graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    onnx_scales = {
        round(float(initializers[n.input[1]]), 7)
        for n in graph.node
        if n.op_type == "QuantizeLinear" and n.input[1] in initializers and initializers[n.input[1]].size == 1
    }
    moved = [m for m in learned if float(m.scale.detach()) not in start.values()]
    assert moved, "two steps at range_lr 0.02 should move the learned scales"
    assert {round(float(m.scale.detach()), 7) for m in moved} & onnx_scales
    x = inputs[0]
    with torch.no_grad():
        expected = model(x)[1].numpy()
    out = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})
    assert np.abs(out[1] - expected).max() < 0.05


def test_int8_graph_traced_with_dynamic_size_exports_a_dynamic_shape_file(int8_dir, inputs):
    """The x86 quantizers trace height/width as dynamic, so one trained model gives both the fixed-size file and
    the dynamic-shape one (original-size inference); they agree at the fixed size."""
    import onnxruntime as ort

    from training.qat import QUANTIZERS

    assert QUANTIZERS["x86"].dynamic_size and QUANTIZERS["x86-fused"].dynamic_size
    _, files = int8_dir
    fixed = ort.InferenceSession(str(files["retinaface_mnet025_160x160_int8-ptq.onnx"].path))
    dynamic = ort.InferenceSession(str(files["retinaface_mnet025_dynamic_int8-ptq.onnx"].path))
    x = inputs[0].numpy()
    for a, b in zip(fixed.run(None, {"input": x}), dynamic.run(None, {"input": x})):
        assert np.abs(a - b).max() < 1e-5
    tall = dynamic.run(None, {"input": x[:, :, :, :96]})  # 160 high, 96 wide
    anchors = 2 * sum((160 // s) * (96 // s) for s in (8, 16, 32))
    assert [o.shape for o in tall] == [(1, anchors, 4), (1, anchors, 2), (1, anchors, 10)]


def test_qat_models_reach_the_runtime_through_export_only(int8_dir, tmp_path, astronaut):
    """``export.int8`` names the files, writes them and adds typed entries to the manifest; the runtime then loads
    them like any bundled file, and ``export.bundle`` copies them into another model directory."""
    from edge_sdk import FaceDetector
    from edge_sdk.manifest import load_manifest
    from export.bundle import bundle

    from .conftest import copy_bundled_model

    model_dir, files = int8_dir
    assert sorted(files) == [
        "retinaface_mnet025_160x160_int8-ptq.onnx",
        "retinaface_mnet025_160x160_int8-ptq.tflite",
        "retinaface_mnet025_160x160_int8-ptq.xml",
        "retinaface_mnet025_dynamic_int8-ptq.onnx",
    ]
    listed = {f.path.name: f for f in load_manifest(model_dir).files if f.precision == "int8-ptq"}
    assert listed == files
    assert [p.name for p in listed["retinaface_mnet025_160x160_int8-ptq.xml"].extra_files] == [
        "retinaface_mnet025_160x160_int8-ptq.bin"
    ]
    assert all(f.quantization == "QAT test" for f in listed.values())
    for backend, size in (("onnxruntime", SIZE), ("onnxruntime", None), ("openvino", SIZE), ("tflite", SIZE)):
        detector = FaceDetector(
            model=model_dir, backend=backend, precision="int8-ptq", input_size=size, score_threshold=0.3
        )
        assert detector.model_file.precision == "int8-ptq"
        detector.detect(astronaut)  # runs end to end (two QAT steps at 160 px: no claim about accuracy)

    target = copy_bundled_model(tmp_path, "target")
    assert bundle(model_dir, target, "int8-ptq") == sorted(files)
    for model_file in load_manifest(target).files:
        model_file.verify()
    with pytest.raises(ValueError, match="no int4 files"):
        bundle(model_dir, target, "int4")


def test_qat_cli_parses_into_typed_options():
    from training.qat import QatOptions, QatRecipe, parse_options

    options, bundle_into = parse_options(
        ["--model-dir", "out/q", "--steps", "5", "--no-learn-ranges", "--no-baselines"]
    )
    assert bundle_into is None and isinstance(options, QatOptions)
    assert options.recipe == QatRecipe(steps=5, learn_ranges=False) and not options.baselines
    defaults, _ = parse_options(["--model-dir", "out/q"])
    assert defaults.recipe == QatRecipe() and defaults.baselines
