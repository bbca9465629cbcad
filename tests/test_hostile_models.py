"""Hostile model directories and manifests (issue #17, items 8 and 9): files that resolve outside the directory, an
OpenVINO .bin that is not the checksummed one, files swapped after the check, malformed manifests (each a
ModelLoadError naming the field, also under random mutation), and OpenVINO streams of ever-changing frame sizes."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_sdk import FaceDetector, ModelLoadError
from edge_sdk.manifest import load_manifest, sha256_of
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL
from edge_sdk.nms import pairwise_iou

from .conftest import REPO_ROOT, copy_bundled_model, require

BUNDLED_MANIFEST = json.loads((BUNDLED_DIR / DEFAULT_MODEL / "manifest.json").read_text())
ONNX_640 = "retinaface_mnet025_640x640.onnx"


def _write_manifest(model_dir: Path, manifest: object) -> None:
    (model_dir / "manifest.json").write_text(json.dumps(manifest))


def _entry(manifest: dict, path: str) -> dict:
    return next(e for e in manifest["files"] if e["path"] == path)


@pytest.fixture(scope="module")
def reference(astronaut):
    """The astronaut's face as the bundled model finds it."""
    faces = FaceDetector(backend="onnxruntime", input_size=640).detect(astronaut)
    assert len(faces) == 1
    return faces


def _assert_finds_the_face(detector: FaceDetector, image: np.ndarray, reference, min_iou: float = 0.99) -> None:
    faces = detector.detect(image)
    assert len(faces) == 1, f"{len(faces)} faces instead of the astronaut's one"
    assert pairwise_iou(reference.boxes, faces.boxes)[0, 0] > min_iou and faces.scores[0] > 0.9


# --- what is verified is what runs ----------------------------------------------------------------------------------


def test_a_symlink_out_of_the_model_directory_is_refused(tmp_path, astronaut, reference):
    """The same bytes (checksum fine) behind a symlink that leaves the directory: refused. A symlink that stays
    inside is fine."""
    model_dir = copy_bundled_model(tmp_path)
    outside = tmp_path / "elsewhere.onnx"
    shutil.move(model_dir / ONNX_640, outside)
    (model_dir / ONNX_640).symlink_to(outside)
    with pytest.raises(ModelLoadError, match="outside the model directory"):
        FaceDetector(model=model_dir, backend="onnxruntime")

    shutil.move(outside, model_dir / "real.onnx")
    (model_dir / ONNX_640).unlink()
    (model_dir / ONNX_640).symlink_to("real.onnx")
    _assert_finds_the_face(FaceDetector(model=model_dir, backend="onnxruntime"), astronaut, reference)


def test_a_manifest_symlinked_from_outside_is_refused(tmp_path):
    model_dir = copy_bundled_model(tmp_path)
    shutil.move(model_dir / "manifest.json", tmp_path / "manifest.json")
    (model_dir / "manifest.json").symlink_to(tmp_path / "manifest.json")
    with pytest.raises(ModelLoadError, match="outside the model directory"):
        FaceDetector(model=model_dir, backend="onnxruntime")


def test_openvino_runs_the_checksummed_bin_not_the_one_beside_the_xml(tmp_path, astronaut, reference):
    """A decoy entry: the manifest lists (and checksums) decoy.bin, while the .bin beside the .xml has its first half
    zeroed. OpenVINO given the path loads the unverified one (0 faces, silently); the backend hands it the verified
    bytes."""
    require("openvino", "the [openvino] extra")
    model_dir = copy_bundled_model(tmp_path)
    weights = model_dir / "retinaface_mnet025_640x640.bin"
    shutil.copyfile(weights, model_dir / "decoy.bin")
    data = bytearray(weights.read_bytes())
    data[: len(data) // 2] = bytes(len(data) // 2)
    weights.write_bytes(bytes(data))
    manifest = json.loads((model_dir / "manifest.json").read_text())
    entry = _entry(manifest, "retinaface_mnet025_640x640.xml")
    entry["extra_files"] = ["decoy.bin"]
    entry["extra_sha256"] = {"decoy.bin": sha256_of(model_dir / "decoy.bin")}
    _write_manifest(model_dir, manifest)
    _assert_finds_the_face(FaceDetector(model=model_dir, backend="openvino"), astronaut, reference)

    entry["extra_files"], entry["extra_sha256"] = [], {}  # an IR whose weights the manifest does not list
    _write_manifest(model_dir, manifest)
    with pytest.raises(ModelLoadError, match="extra_files"):
        FaceDetector(model=model_dir, backend="openvino")


# backend → (file it loads at 640, a valid model file of the same format with other bytes)
SWAPS = {
    "onnxruntime": ("retinaface_mnet025_640x640.onnx", "retinaface_mnet025_640x640_int8.onnx"),
    "openvino": ("retinaface_mnet025_640x640.bin", "retinaface_mnet025_640x640_int8.bin"),
    "tflite": ("retinaface_mnet025_640x640.tflite", "retinaface_mnet025_640x640_int8.tflite"),
}


@pytest.mark.parametrize("backend", sorted(SWAPS))
def test_a_file_swapped_after_the_check_never_runs(tmp_path, monkeypatch, backend):
    """Another valid model put in place after the detector chose the file and just before the backend loads it (a
    race, simulated): the backend must not run what it finds at the path, but only bytes it checked itself."""
    from edge_sdk.backends import BackendSpec

    require({"onnxruntime": "onnxruntime", "openvino": "openvino", "tflite": "ai_edge_litert"}[backend], "runtime")
    model_dir = copy_bundled_model(tmp_path)
    target, replacement = (model_dir / name for name in SWAPS[backend])
    original_load_class = BackendSpec.load_class

    def swap_then_load_class(self):
        shutil.copyfile(replacement, target)
        return original_load_class(self)

    monkeypatch.setattr(BackendSpec, "load_class", swap_then_load_class)
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        FaceDetector(model=model_dir, backend=backend)


# --- malformed manifests --------------------------------------------------------------------------------------------


def _set(path: str, value):
    def change(manifest):
        *parents, last = path.split(".")
        node = manifest
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[int(last) if isinstance(node, list) else last] = value
        return manifest

    return change


_DELETE = object()
MALFORMED = [
    ("std zero", _set("input.std", [0, 0, 0]), r"input\.std\[0\] must be a finite number in \(0"),
    ("stride zero", _set("anchors.strides", [0, 16, 32]), r"anchors\.strides\[0\] must be in \[1,"),
    ("array manifest", lambda m: [m], "the manifest must be a JSON object"),
    ("null manifest", lambda m: None, "the manifest must be a JSON object"),
    ("mean NaN", _set("input.mean", [float("nan"), 117, 127]), r"input\.mean\[0\] must be a finite number"),
    ("variances zero", _set("anchors.variances", [0, 0]), r"anchors\.variances\[0\] must be a finite number in \(0"),
    ("one-element mean", _set("input.mean", [104]), r"input\.mean must have 3 values"),
    ("mean as text", _set("input.mean", "104,117,127"), r"input\.mean must be a list"),
    ("stride as float", _set("anchors.strides", [8.5, 16, 32]), r"anchors\.strides\[0\] must be an integer"),
    ("negative input size", _set("files.0.input_size", [-640, 640]), r"files\[0\]\.input_size\[0\] must be in"),
    (
        "negative anchor size",
        _set("anchors.min_sizes", [[-16, 32], [64, 128], [256, 512]]),
        r"anchors\.min_sizes\[0\]\[0\] must be in",
    ),
    ("unknown format", _set("files.0.format", "caffe"), r"files\[0\]\.format must be one of"),
    ("unknown precision", _set("files.0.precision", "int4"), r"files\[0\]\.precision must be one of"),
    ("missing input", _set("input", _DELETE), r"input is missing"),
    ("missing strides", _set("anchors.strides", _DELETE), r"anchors\.strides is missing"),
    ("missing sha256", _set("files.0.sha256", _DELETE), r"files\[0\]\.sha256 is missing"),
    ("bad sha256", _set("files.0.sha256", "abc"), r"files\[0\]\.sha256 must be a sha256"),
    ("missing output name", _set("outputs.names.boxes", _DELETE), r"outputs\.names\.boxes is missing"),
    ("unknown activation", _set("outputs.score_activation", "relu"), r"outputs\.score_activation must be one of"),
    ("activation vs classes", _set("outputs.score_activation", "sigmoid"), r"architecture\.num_classes must be 1"),
    ("landmarks vs order", _set("anchors.num_landmarks", 6), r"landmark_order must have 6 values"),
    ("OpenVINO weights unchecked", _set("files.4.extra_sha256", {}), r"files\[4\]\.extra_sha256\..*\.bin is missing"),
    ("bool as version", _set("schema_version", True), r"schema_version is unsupported"),
]


@pytest.mark.parametrize("change,match", [(c, m) for _, c, m in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_malformed_manifest_names_the_field(tmp_path, change, match):
    model_dir = copy_bundled_model(tmp_path)
    _write_manifest(model_dir, change(json.loads(json.dumps(BUNDLED_MANIFEST))))
    with pytest.raises(ModelLoadError, match=match):
        FaceDetector(model=model_dir, backend="onnxruntime")


def test_the_bundled_manifest_round_trips_through_the_typed_writer(tmp_path):
    """``load → to_dict`` gives what ``json.load`` gives; ``write`` produces a file that loads to the same
    manifest."""
    manifest = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    assert manifest.to_dict() == BUNDLED_MANIFEST
    model_dir = copy_bundled_model(tmp_path)
    (model_dir / "manifest.json").unlink()
    dataclasses.replace(
        manifest,
        directory=model_dir,
        files=tuple(
            dataclasses.replace(
                f,
                path=model_dir / f.path.name,
                extra_files=tuple(model_dir / p.name for p in f.extra_files),
                directory=model_dir,
            )
            for f in manifest.files
        ),
    ).write()
    assert json.loads((model_dir / "manifest.json").read_text()) == BUNDLED_MANIFEST
    for model_file in load_manifest(model_dir).files:
        model_file.verify()


# --- property: mutated manifests load correctly or fail with ModelLoadError ----------------------------------------


def _field_paths(value, path=()):
    """Every place in the JSON tree (the root included), as key/index tuples."""
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _field_paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _field_paths(child, (*path, index))


FIELD_PATHS = list(_field_paths(BUNDLED_MANIFEST))
# retyped (None, text, list, object, bool), NaN/inf, zero, negative, huge, empty
REPLACEMENTS = [None, float("nan"), float("inf"), 0, -1, -0.5, 10**12, 1e308, "", "x", [], {}, True]


def _mutate(manifest: object, path: tuple, operation: str, replacement: object) -> object:
    if not path:
        return replacement
    parent = manifest
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if operation == "delete":
        del parent[key]
    elif operation == "grow" and isinstance(parent[key], list):  # wrong length: one more value
        parent[key] = parent[key] + (parent[key][-1:] or [0])
    elif operation == "shrink" and isinstance(parent[key], list):  # wrong length: one value less
        parent[key] = parent[key][:-1]
    else:
        parent[key] = replacement
    return manifest


@pytest.fixture(scope="module")
def onnx_model_dir(tmp_path_factory):
    """The bundled manifest beside only the fp32 ONNX files (what the onnxruntime backend at 640 can pick)."""
    model_dir = tmp_path_factory.mktemp("mutated")
    for name in (ONNX_640, "retinaface_mnet025_dynamic.onnx"):
        shutil.copyfile(BUNDLED_DIR / DEFAULT_MODEL / name, model_dir / name)
    return model_dir


def test_mutated_manifests_load_correctly_or_raise_model_load_error(onnx_model_dir, astronaut, reference):
    hypothesis = require("hypothesis", "the [dev] extra")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    outcomes: dict[str, int] = {"ModelLoadError": 0, "correct load": 0}

    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        path=st.sampled_from(FIELD_PATHS),
        operation=st.sampled_from(["replace", "delete", "grow", "shrink"]),
        replacement=st.sampled_from(REPLACEMENTS),
    )
    def check(path, operation, replacement):
        if operation == "delete" and not path:
            operation = "replace"
        manifest = _mutate(json.loads(json.dumps(BUNDLED_MANIFEST)), path, operation, replacement)
        _write_manifest(onnx_model_dir, manifest)
        try:
            detector = FaceDetector(model=onnx_model_dir, backend="onnxruntime", input_size=640)
        except ModelLoadError:
            outcomes["ModelLoadError"] += 1
            return
        # a mutation can leave a valid manifest of a slightly different model: a mean of 0 instead of 104 moves the
        # box by a few pixels (IoU 0.96); what must never happen is another exception, or a model that loads and
        # then misses the face or finds others
        _assert_finds_the_face(detector, astronaut, reference, min_iou=0.9)
        outcomes["correct load"] += 1

    check()
    print(f"\nmutated manifests (hypothesis {hypothesis.__version__}): {outcomes}")
    assert outcomes["ModelLoadError"] > 0 and outcomes["correct load"] > 0


# --- score activation -----------------------------------------------------------------------------------------------


def test_sigmoid_scores_decode_like_the_softmax_they_equal(detector, astronaut):
    """A model declaring ``score_activation: sigmoid`` gives face logits; softmax over (background, face) is the
    sigmoid of their difference, so decoding those logits must give the softmax model's faces."""
    from edge_sdk.postprocess import decode_detections
    from edge_sdk.priors import generate_priors

    tensor, box = detector.preprocess(astronaut)
    deltas, probabilities, landmarks = (np.asarray(r)[0] for r in detector.run_backend(tensor))
    logits = np.log(probabilities[:, 1:2].astype(np.float64)) - np.log(probabilities[:, 0:1].astype(np.float64))
    priors = generate_priors(box.canvas_height, box.canvas_width, detector.manifest.anchors)
    args = (priors, box, 0.02, 0.4, detector.manifest.anchors.variances)
    softmax = decode_detections(deltas, probabilities, landmarks, *args)
    sigmoid = decode_detections(deltas, logits.astype(np.float32), landmarks, *args, score_activation="sigmoid")
    assert len(softmax) > 1 and len(sigmoid) == len(softmax)
    np.testing.assert_allclose(sigmoid.boxes, softmax.boxes, atol=1e-3)
    np.testing.assert_allclose(sigmoid.scores, softmax.scores, atol=1e-5)


# --- OpenVINO: a bounded set of input shapes over streams of changing frame sizes -----------------------------------


def test_shape_buckets_keep_few_shapes_in_use():
    """Few sizes keep the fine 128 buckets; a stream of many sizes coarsens them until its shapes fit the runtime's
    shape cache (here 16), and never holds more than that."""
    from edge_sdk.backends.shapes import ShapeBuckets

    steady = ShapeBuckets(capacity=16)
    assert {steady.shape_for(h, w) for h, w in [(480, 640), (720, 1280), (480, 640)] * 50} == {(512, 640), (768, 1280)}
    assert steady.multiple == 128

    rng = np.random.default_rng(0)
    many = ShapeBuckets(capacity=16)
    seen = set()
    for h, w in rng.integers(40, 720, (2000, 2)):
        shape = many.shape_for(int(h), int(w))
        assert shape[0] >= h and shape[1] >= w and shape[0] % many.multiple == 0 and shape[1] % many.multiple == 0
        assert len(many.in_use) <= 16
        seen.add(shape)
    assert many.multiple == 256 and len({s for s in seen if s[0] % 256 == 0 and s[1] % 256 == 0}) <= 16


def test_padded_openvino_outputs_are_the_anchors_of_the_given_input(manifest_and_image):
    """The OpenVINO backend pads a dynamic input up to its bucket and keeps the outputs of the given input's anchors:
    exactly ONNX Runtime's outputs on the same zero-padded input, restricted by ``anchor_subset``."""
    require("openvino", "the [openvino] extra")
    from edge_sdk.backends import BACKENDS
    from edge_sdk.backends.shapes import anchor_subset, pad_to

    manifest, tensor = manifest_and_image
    dynamic = {f.format: f for f in manifest.files if f.dynamic and f.precision == "fp32"}
    openvino = BACKENDS["openvino"].load_class()(dynamic["openvino"], manifest, pixel_input=False)
    onnx = BACKENDS["onnxruntime"].load_class()(dynamic["onnx"], manifest)
    height, width = tensor.shape[2:]
    padded_height, padded_width = openvino.buckets.shape_for(height, width)
    assert (padded_height, padded_width) != (height, width)
    got = openvino.run(tensor)
    index = anchor_subset(manifest.anchors, height, width, padded_height, padded_width)
    want = [out[:, index] for out in onnx.run(pad_to(tensor, padded_height, padded_width))]
    assert [g.shape for g in got] == [(1, manifest.anchors.num_priors(height, width), d) for d in (4, 2, 10)]
    for g, w in zip(got, want):
        assert np.abs(g - w).max() < 1e-3


@pytest.fixture(scope="module")
def manifest_and_image(astronaut):
    """The bundled manifest and the astronaut letterboxed at its own size plus a strip: a 544 x 608 canvas."""
    import cv2

    from edge_sdk.preprocess import Letterbox, make_input

    manifest = load_manifest(BUNDLED_DIR / DEFAULT_MODEL)
    image = cv2.copyMakeBorder(astronaut, 0, 20, 0, 90, cv2.BORDER_REFLECT)
    box = Letterbox.pad_to_multiple(image.shape[1], image.shape[0], 32)
    return manifest, make_input(image, box, manifest.normalization)


STREAM = """
import json, sys, numpy as np
from edge_sdk import FaceDetector
from edge_sdk.backends import openvino_backend

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6

frames, warm = int(sys.argv[1]), int(sys.argv[2])
detector = FaceDetector(backend="openvino", input_size=None, score_threshold=0.3, threads=2)
requests = detector.backend._requests
request = requests[None]
shapes = set()

class Spy:  # records every input shape OpenVINO is given
    def infer(self, inputs, **kwargs):
        shapes.add(tuple(inputs[0].shape))
        return request.infer(inputs, **kwargs)

requests[None] = Spy()
rng = np.random.default_rng(0)
sizes = rng.integers(40, 360, (frames, 2))  # nearly every frame a new size
base = rng.integers(0, 256, (360, 360, 3), dtype=np.uint8)
for h, w in sizes[:warm]:
    detector.detect(base[:h, :w])
start = rss_mb()
for h, w in sizes[warm:]:
    detector.detect(base[:h, :w])
print(json.dumps({"distinct_sizes": len({tuple(s) for s in sizes}), "shapes": len(shapes),
                  "cache": getattr(openvino_backend, "CPU_SHAPE_CACHE", 16), "growth_mb": rss_mb() - start}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_openvino_stream_of_changing_sizes_keeps_few_shapes_and_flat_memory():
    """300 frames of ~300 sizes (40-360 px): OpenVINO sees a few bucket shapes, all held by its shape cache, and
    memory stays flat after the first 50 frames (before: ~110 shapes, memory still growing ~20 MB)."""
    require("openvino", "the [openvino] extra")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", STREAM, "300", "50"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nopenvino stream: {result}")
    assert result["distinct_sizes"] > 250
    assert result["shapes"] <= result["cache"]
    assert result["shapes"] <= math.ceil(360 / 128) ** 2
    assert result["growth_mb"] < 10
