"""The three runtime backends on the bundled model: raw parity against PyTorch, the same faces on real WIDER val
images, each runtime's own settings (precision, threads, devices), the registry and auto choice, and each backend
running in a process where the other runtimes cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import types

import cv2
import numpy as np
import pytest

from edge_sdk import (
    BackendError,
    BackendUnavailableError,
    FaceDetector,
    InvalidArgumentError,
    ModelLoadError,
    available_backends,
)
from edge_sdk.backends import BACKENDS, resolve_backend_name
from edge_sdk.backends.base import OutputInfo, QuantParams, dequantize, import_runtime, match_outputs, quantize
from edge_sdk.detector import AUTO_ORDER
from edge_sdk.manifest import load_manifest
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

from .conftest import REPO_ROOT, copy_bundled_model, flip_middle_byte, require

RUNTIME_MODULE = {"onnxruntime": "onnxruntime", "openvino": "openvino", "tflite": "ai_edge_litert"}
RUNTIME_PACKAGES = ("onnxruntime", "openvino", "ai_edge_litert", "tflite_runtime")


def need(backend: str) -> None:
    require(RUNTIME_MODULE[backend], f"backend {backend}: the [{BACKENDS[backend].extra}] extra")


@pytest.fixture(scope="module")
def manifest():
    return load_manifest(BUNDLED_DIR / DEFAULT_MODEL)


def file_of(manifest, fmt: str, input_size=(640, 640), precision: str = "fp32"):
    return next(
        f for f in manifest.files if f.format == fmt and f.input_size == input_size and f.precision == precision
    )


def open_backend(name: str, model_file, manifest, **kwargs):
    need(name)
    return BACKENDS[name].load_class()(model_file, manifest, **kwargs)


# --- the bundled directory ------------------------------------------------------------------------------------------


def test_bundled_directory_holds_every_format(manifest):
    formats = {(f.format, f.input_size) for f in manifest.files}
    assert formats == {
        ("onnx", (640, 640)),
        ("onnx", None),
        ("openvino", (640, 640)),
        ("openvino", None),
        ("tflite", (640, 640)),
    }
    for f in manifest.files:
        f.verify()
        if f.format == "openvino":
            assert [p.suffix for p in f.extra_files] == [".bin"] and all(f.extra_sha256)
    tflite_file = next(f for f in manifest.files if f.format == "tflite")
    assert set(tflite_file.output_names) == {"boxes", "scores", "landmarks"}


def test_backends_read_the_typed_manifest_only():
    """Output names, class count and file details come from the typed ``Manifest``/``ModelFile``; no backend digs
    into the JSON form."""
    from pathlib import Path

    import edge_sdk.backends as package

    sources = {p.name: p.read_text() for p in Path(package.__file__).parent.glob("*.py")}
    assert len(sources) >= 5 and not [name for name, text in sources.items() if ".raw" in text or "to_dict(" in text]


def test_tampered_openvino_weights_are_rejected(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    flip_middle_byte(model_dir / "retinaface_mnet025_640x640.bin")
    with pytest.raises(ModelLoadError, match="checksum mismatch for retinaface_mnet025_640x640.bin"):
        FaceDetector(model=model_dir, backend="openvino")


# --- parity -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_model():
    require("torch", "the [export] extra")
    from training.checkpoint import load_checkpoint
    from training.model import InferenceModel

    return InferenceModel(load_checkpoint()[0]).eval()


@pytest.mark.parametrize(
    "fmt,input_size",
    [("onnx", (640, 640)), ("onnx", None), ("openvino", (640, 640)), ("openvino", None), ("tflite", (640, 640))],
    ids=["onnx-640", "onnx-dynamic", "openvino-640", "openvino-dynamic", "tflite-640"],
)
def test_raw_outputs_match_pytorch(manifest, astronaut, torch_model, fmt, input_size):
    """Every bundled fp32 file, through its backend, against the shipped checkpoint in PyTorch (dynamic files at a
    non-square 640x384, a shape every backend runs as given)."""
    from export.formats import FORMATS
    from export.parity import check_parity

    backend = FORMATS[fmt].backend
    need(backend)
    result = check_parity(torch_model, manifest, file_of(manifest, fmt, input_size), backend, astronaut)
    print("\n" + result.line())
    assert result.worst < 1e-3


def _wider_images(shared_data, count: int) -> list[np.ndarray]:
    folders = sorted((shared_data / "widerface/WIDER_val/images").iterdir())
    paths = [sorted(folder.glob("*.jpg"))[0] for folder in folders[:: max(1, len(folders) // count)][:count]]
    return [cv2.imread(str(p)) for p in paths]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box against many."""
    w = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter)


def _assert_same_faces(results: dict[str, object], threshold: float) -> tuple[int, float, float]:
    """Every face of each backend is in every other with IoU >= 0.95 and |score diff| <= 0.01 (a face within 0.01 of
    the threshold may fall on the other side of it). Returns (faces, worst IoU, worst score diff)."""
    worst_iou, worst_score, faces = 1.0, 0.0, 0
    for a, faces_a in results.items():
        faces += len(faces_a)
        for b, faces_b in results.items():
            if a == b:
                continue
            for box, score in zip(faces_a.boxes, faces_a.scores):
                if len(faces_b) == 0:
                    assert score < threshold + 0.01, f"{a} found a face ({score:.3f}) that {b} did not"
                    continue
                ious = _iou(box, faces_b.boxes)
                j = int(np.argmax(ious))
                if ious[j] < 0.95 and score < threshold + 0.01:
                    continue
                assert ious[j] >= 0.95, f"{a} face {box} score {score:.3f}: best {b} IoU {ious[j]:.3f}"
                assert abs(faces_b.scores[j] - score) <= 0.01, f"{a} vs {b}: score {score} vs {faces_b.scores[j]}"
                worst_iou, worst_score = (
                    min(worst_iou, float(ious[j])),
                    max(worst_score, float(abs(faces_b.scores[j] - score))),
                )
    return faces // len(results), worst_iou, worst_score


def test_same_faces_on_wider_val(shared_data):
    for name in BACKENDS:
        need(name)
    images = _wider_images(shared_data, 12)
    detectors = {name: FaceDetector(backend=name, input_size=640, score_threshold=0.5) for name in BACKENDS}
    total, worst_iou, worst_score = 0, 1.0, 0.0
    for image in images:
        faces, iou, score = _assert_same_faces({n: d.detect(image) for n, d in detectors.items()}, 0.5)
        total, worst_iou, worst_score = total + faces, min(worst_iou, iou), max(worst_score, score)
    print(
        f"\n{len(images)} WIDER val images at 640, {total} faces per backend; across {list(detectors)}: "
        f"worst IoU {worst_iou:.5f}, worst score diff {worst_score:.2e}"
    )
    assert total > 30


def test_same_faces_at_original_resolution(shared_data):
    """The dynamic-shape files (ONNX, OpenVINO IR) at each image's own size."""
    need("onnxruntime")
    need("openvino")
    detectors = {n: FaceDetector(backend=n, input_size=None) for n in ("onnxruntime", "openvino")}
    for image in _wider_images(shared_data, 3):
        _assert_same_faces({n: d.detect(image) for n, d in detectors.items()}, 0.5)


# --- OpenVINO ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_openvino_precision_is_explicit_and_threads_respected(manifest, precision):
    """fp32 files and the float layers of int8 files run in f32 on every CPU (never the device's bf16 default)."""
    backend = open_backend("openvino", file_of(manifest, "openvino", precision=precision), manifest, threads=1)
    assert str(backend.compiled.get_property("INFERENCE_PRECISION_HINT")) in ("f32", "<Type: 'float32'>")
    assert backend.compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert backend.describe()["inference_precision"] == "f32"


@pytest.mark.parametrize(("input_size", "precision"), [(640, "fp32"), (640, "int8"), (None, "int8")])
def test_openvino_moved_softmax_gives_the_models_own_outputs(manifest, shared_data, input_size, precision):
    """The score head's softmax, moved onto the long axis at load, gives the outputs of the graph as written, bit for
    bit, on real images (fixed-size and dynamic-size files)."""
    size = (input_size, input_size) if input_size else None
    model_file = file_of(manifest, "openvino", input_size=size, precision=precision)
    moved = open_backend("openvino", model_file, manifest)
    assert moved.softmaxes_moved == 1 and moved.describe()["softmaxes_moved"] == 1
    as_written = open_backend("openvino", model_file, manifest, softmax_on_a_long_axis=False)
    assert as_written.softmaxes_moved == 0
    detector = FaceDetector(backend="openvino", precision=precision, input_size=input_size)
    for image in _wider_images(shared_data, 3):
        tensor, _ = detector.preprocess(image)
        for ours, reference in zip(moved.run(tensor), as_written.run(tensor), strict=True):
            np.testing.assert_array_equal(ours, reference)


def _openvino_against_onnxruntime(manifest, **options) -> float:
    """Largest output difference of the OpenVINO fp32 file (float input, ``options``) from ONNX Runtime's."""
    x = np.random.default_rng(0).uniform(-128, 128, (1, 3, 640, 640)).astype(np.float32)
    ours = open_backend("openvino", file_of(manifest, "openvino"), manifest, pixel_input=False, **options).run(x)
    reference = open_backend("onnxruntime", file_of(manifest, "onnx"), manifest).run(x)
    return max(float(np.abs(a - b).max()) for a, b in zip(ours, reference))


def test_openvino_fp32_stays_fp32_by_default(manifest):
    """On any CPU (with bf16 OpenVINO would otherwise pick it on its own): fp32 agrees with ONNX Runtime."""
    need("openvino")
    f32_diff = _openvino_against_onnxruntime(manifest)
    print(f"\nopenvino vs onnxruntime: f32 {f32_diff:.2e}")
    assert f32_diff < 1e-4


def test_openvino_bf16_only_when_asked(manifest):
    need("openvino")
    import openvino as ov

    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16 to ask for (the fp32 default is checked on every CPU above)")
    f32_diff = _openvino_against_onnxruntime(manifest)
    bf16_diff = _openvino_against_onnxruntime(manifest, inference_precision="bf16")
    print(f"\nopenvino vs onnxruntime: f32 {f32_diff:.2e}, bf16 {bf16_diff:.2e}")
    assert f32_diff < 1e-4 < 1e-2 < bf16_diff


def test_openvino_missing_device_lists_the_available_ones(manifest):
    with pytest.raises(InvalidArgumentError, match=r"'GPU\.42' is not available here; available: \["):
        open_backend("openvino", file_of(manifest, "openvino"), manifest, device="GPU.42")


# --- TFLite -----------------------------------------------------------------------------------------------------------


def _recording_interpreter(calls: list[dict]):
    from ai_edge_litert.interpreter import Interpreter

    class Recording(Interpreter):
        def __init__(self, *args, **kwargs):
            calls.append(kwargs)
            super().__init__(*args, **kwargs)

    return Recording


def test_tflite_threads_reach_the_interpreter(manifest, monkeypatch):
    need("tflite")
    import ai_edge_litert.interpreter

    calls: list[dict] = []
    monkeypatch.setattr(ai_edge_litert.interpreter, "Interpreter", _recording_interpreter(calls))
    backend = open_backend("tflite", file_of(manifest, "tflite"), manifest, threads=1)
    assert calls[-1]["num_threads"] == 1 and backend.describe()["quantized_io"] is False


def test_tflite_runtime_is_the_fallback(manifest, monkeypatch):
    need("tflite")
    calls: list[dict] = []
    fake = types.ModuleType("tflite_runtime.interpreter")
    fake.Interpreter = _recording_interpreter(calls)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # None in sys.modules: import fails
    monkeypatch.setitem(sys.modules, "tflite_runtime", types.ModuleType("tflite_runtime"))
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", fake)
    backend = open_backend("tflite", file_of(manifest, "tflite"), manifest, threads=2)
    assert calls and calls[-1]["num_threads"] == 2
    assert len(backend.run(np.zeros(backend.input_spec.shape(1, 640, 640), np.float32))) == 3
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(BackendUnavailableError, match=r"edge-face-sdk\[tflite\]"):
        open_backend("tflite", file_of(manifest, "tflite"), manifest)


def test_tflite_rejects_other_input_sizes_and_devices(manifest):
    backend = open_backend("tflite", file_of(manifest, "tflite"), manifest)
    with pytest.raises(BackendError, match=r"takes input \(1, 640, 640, 3\)"):
        backend.run(np.zeros((1, 320, 320, 3), np.float32))
    with pytest.raises(InvalidArgumentError, match="tflite device"):
        open_backend("tflite", file_of(manifest, "tflite"), manifest, device="GPU")


# --- shared helpers ---------------------------------------------------------------------------------------------------


def test_quantize_dequantize():
    q = QuantParams(scale=0.5, zero_point=-3, dtype=np.dtype(np.int8))
    x = np.array([-100.0, -1.26, 0.0, 0.24, 0.26, 10.0, 1000.0], np.float32)
    codes = quantize(x, q)
    assert codes.dtype == np.int8
    np.testing.assert_array_equal(codes, [-128, -6, -3, -3, -2, 17, 127])  # saturates at both ends
    np.testing.assert_allclose(dequantize(codes, q), [-62.5, -1.5, 0, 0, 0.5, 10, 65])
    inside = np.linspace(-60, 60, 1001, dtype=np.float32)
    assert np.abs(dequantize(quantize(inside, q), q) - inside).max() <= 0.25 + 1e-6  # half a step
    u8 = QuantParams(scale=1.0, zero_point=128, dtype=np.dtype(np.uint8))
    np.testing.assert_array_equal(quantize(np.array([-128.0, 0.0, 127.0]), u8), [0, 128, 255])
    assert QuantParams.from_details(0.0, 0, np.float32) is None and QuantParams.from_details(0.1, 0, np.float32) is None
    assert QuantParams.from_details(0.1, 5, np.int8) == QuantParams(0.1, 5, np.dtype(np.int8))
    floats = np.ones((1, 2), np.float64)
    assert quantize(floats, None).dtype == np.float32 and dequantize(floats, None).dtype == np.float32


def test_match_outputs_by_name_then_by_shape():
    wanted = {"boxes": "b", "scores": "s", "landmarks": "l"}
    dims = {"boxes": 4, "scores": 2, "landmarks": 10}
    outputs = [OutputInfo(("l",), (1, 9, 10)), OutputInfo(("x", "b"), (1, 9, 4)), OutputInfo(("s",), (1, 9, 2))]
    assert match_outputs(outputs, wanted, None, "m") == [1, 2, 0]
    renamed = [OutputInfo(("out_0",), (1, 9, 2)), OutputInfo(("out_1",), (1, 9, 10)), OutputInfo(("out_2",), (1, 9, 4))]
    assert match_outputs(renamed, wanted, dims, "m") == [2, 0, 1]
    with pytest.raises(ModelLoadError, match="lacks outputs"):
        match_outputs(renamed, wanted, None, "m")
    ambiguous = [OutputInfo(("a",), (1, 9, 4)), OutputInfo(("c",), (1, 9, 4)), OutputInfo(("d",), (1, 9, 2))]
    with pytest.raises(ModelLoadError, match="no unambiguous match"):
        match_outputs(ambiguous, wanted, dims, "m")


def test_import_runtime_takes_the_first_importable():
    assert import_runtime(("edge_sdk_no_such_runtime", "json"), extra="x", backend="b").__name__ == "json"
    with pytest.raises(BackendUnavailableError, match=r"'edge_sdk_no_such_runtime'.*edge-face-sdk\[x\]"):
        import_runtime(("edge_sdk_no_such_runtime", "edge_sdk_no_such_runtime_either"), extra="x", backend="b")


# --- registry and auto ------------------------------------------------------------------------------------------------


def test_registry_names_and_aliases():
    assert list(BACKENDS) == ["tflite", "openvino", "onnxruntime"]  # auto preference: fastest first (README)
    for alias, name in {"ov": "openvino", "OpenVINO": "openvino", "litert": "tflite", "onnx": "onnxruntime"}.items():
        assert resolve_backend_name(alias) == name
    assert available_backends() == [n for n in BACKENDS if BACKENDS[n].is_installed()]


def test_auto_follows_the_table_and_the_model_file(manifest):
    for name in BACKENDS:
        need(name)
    assert FaceDetector(input_size=640).backend_name == AUTO_ORDER[0]  # no tuned choice in the test cache
    assert FaceDetector(input_size=None).backend_name == "openvino"  # TFLite has no dynamic-shape file
    assert FaceDetector(input_size=320).backend_name == "openvino"
    for fmt, backend in (("tflite", "tflite"), ("onnx", "onnxruntime"), ("openvino", "openvino")):
        assert FaceDetector(model=file_of(manifest, fmt).path, input_size=640).backend_name == backend


ISOLATED = """
import importlib.abc, sys
import cv2
backend, blocked = sys.argv[1], set(sys.argv[2].split(","))
blocked |= {"torch", "training", "export", "tensorflow"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is blocked for this test")
sys.meta_path.insert(0, Block())
import edge_sdk
assert edge_sdk.available_backends() == [backend], edge_sdk.available_backends()
for other in edge_sdk.backends.BACKENDS:
    if other != backend:
        try:
            edge_sdk.FaceDetector(backend=other)
            raise SystemExit(f"{other} loaded although its runtime is blocked")
        except edge_sdk.BackendUnavailableError as exc:
            assert f"{edge_sdk.DISTRIBUTION}[{edge_sdk.backends.BACKENDS[other].extra}]" in str(exc), exc
detector = edge_sdk.FaceDetector(input_size=640)  # auto: the only runtime there is
faces = detector.detect(cv2.imread("samples/astronaut.png"))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in blocked)
assert not leaked, leaked
print("ok", detector.backend_name, len(faces))
"""


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_each_backend_runs_without_the_other_runtimes(backend):
    need(backend)
    own = {"tflite": {"ai_edge_litert"}}.get(backend, {RUNTIME_MODULE[backend]})
    blocked = ",".join(sorted(set(RUNTIME_PACKAGES) - own))
    result = subprocess.run(
        [sys.executable, "-c", ISOLATED, backend, blocked], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"ok {backend} 1"
