"""Batch input: dynamic-batch model files, ``detect_batch``, ``stream(batch_size=...)``, the CLI's ``--batch-size``
and the batching benchmark, on real WIDER FACE images with every backend."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.errors import InvalidArgumentError, InvalidImageError

from .conftest import REPO_ROOT, require

# Five val images of different sizes and crowds, spread over events.
IMAGE_COUNT = 5


@pytest.fixture(scope="module")
def images(shared_data) -> list[np.ndarray]:
    folder = shared_data / "widerface" / "WIDER_val" / "images"
    paths = sorted(folder.glob("*/*.jpg"))
    chosen = [paths[i * len(paths) // IMAGE_COUNT] for i in range(IMAGE_COUNT)]
    return [cv2.imread(str(p)) for p in chosen]


def _assert_same(one_by_one, batched) -> None:
    assert len(one_by_one) == len(batched)
    for single, batch in zip(one_by_one, batched):
        assert len(single) == len(batch)
        np.testing.assert_allclose(batch.boxes, single.boxes, atol=1e-3)
        np.testing.assert_allclose(batch.scores, single.scores, atol=1e-5)
        np.testing.assert_allclose(batch.landmarks, single.landmarks, atol=1e-3)


def _record_batches(detector: FaceDetector) -> list[int]:
    """Wrap the backend call so the test sees the batch size of every model call."""
    seen: list[int] = []
    run = detector.backend.run

    def recording(tensor):
        seen.append(int(tensor.shape[0]))
        return run(tensor)

    detector.backend.run = recording
    return seen


ANY = "as the file says"
CASES = [
    # backend, precision, max_batch of the bundled 640 file
    ("onnxruntime", "fp32", None),
    ("openvino", "fp32", None),
    ("tflite", "fp32", 1),
    ("onnxruntime", "int8", ANY),  # QDQ graphs exported before dynamic batches existed have a batch of one
    ("openvino", "int8", ANY),
    ("tflite", "int8", 1),
]


@pytest.mark.parametrize("backend,precision,max_batch", CASES, ids=[f"{b}-{p}" for b, p, _ in CASES])
def test_detect_batch_equals_detect_on_real_images(images, backend, precision, max_batch):
    require(
        {"onnxruntime": "onnxruntime", "openvino": "openvino", "tflite": "ai_edge_litert"}[backend], "a backend extra"
    )
    detector = FaceDetector(backend=backend, precision=precision, input_size=640, score_threshold=0.3, threads=2)
    if max_batch is not ANY:
        assert detector.max_batch == max_batch
    max_batch = detector.max_batch
    one_by_one = [detector.detect(image) for image in images]
    assert sum(len(d) for d in one_by_one) > 20  # real crowds, not empty results compared with empty results
    calls = _record_batches(detector)
    batched = detector.detect_batch(images)
    _assert_same(one_by_one, batched)
    # a dynamic batch dimension really stacks the images into one call; a fixed one runs them one by one
    assert calls == ([IMAGE_COUNT] if max_batch is None else [1] * IMAGE_COUNT)


def test_original_size_batches_group_images_by_input_shape(images):
    require("onnxruntime", "the [onnx] extra")
    detector = FaceDetector(backend="onnxruntime", input_size=None, score_threshold=0.3, threads=2)
    assert detector.max_batch is None
    small = [cv2.resize(image, (320, 240)) for image in images[:3]]
    mixed = [small[0], images[0], small[1], small[2], images[0]]
    one_by_one = [detector.detect(image) for image in mixed]
    calls = _record_batches(detector)
    _assert_same(one_by_one, detector.detect_batch(mixed))
    assert sorted(calls) == [2, 3]  # the three 320x240 images together, the two identical large ones together


def test_openvino_keeps_a_bounded_set_of_per_batch_compiled_models(images):
    require("openvino", "the [openvino] extra")
    from edge_sdk.backends.openvino_backend import _BATCH_SIZES_KEPT

    detector = FaceDetector(backend="openvino", input_size=640, score_threshold=0.3, threads=2)
    reference = [detector.detect(image) for image in images]
    for size in (2, 3, 4, 5, 1, 2):
        _assert_same(reference[:size], detector.detect_batch(images[:size]))
    assert len(detector.backend._requests) <= _BATCH_SIZES_KEPT


def test_detect_batch_input_errors(detector, astronaut):
    assert detector.detect_batch([]) == []
    with pytest.raises(InvalidArgumentError, match="sequence of images"):
        detector.detect_batch(astronaut)
    with pytest.raises(InvalidImageError, match="image 1 of the batch"):
        detector.detect_batch([astronaut, np.zeros((0, 10, 3), np.uint8)])
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        list(detector.stream([astronaut], batch_size=0))


def test_stream_batches_give_the_same_answers_in_order(images):
    require("onnxruntime", "the [onnx] extra")
    detector = FaceDetector(backend="onnxruntime", input_size=640, score_threshold=0.3, threads=2)
    frames = images * 2  # 10 frames
    plain = list(detector.stream(frames, every=2))
    calls = _record_batches(detector)
    batched = list(detector.stream(frames, every=2, batch_size=2))
    assert [id(f) for f, _ in batched] == [id(f) for f in frames]
    _assert_same([d for _, d in plain], [d for _, d in batched])
    assert calls == [2, 2, 1]  # model frames 0,2 | 4,6 | 8 (the tail is a batch of one)


def test_stream_answers_skipped_frames_without_waiting_for_a_batch(astronaut):
    require("onnxruntime", "the [onnx] extra")
    detector = FaceDetector(backend="onnxruntime", input_size=640)
    pulled: list[int] = []

    def source():
        for i in range(6):
            pulled.append(i)
            yield astronaut

    stream = detector.stream(source(), every=2, batch_size=1)
    next(stream), next(stream)  # frame 0 (model) and frame 1 (skipped) are answered...
    assert pulled == [0, 1]  # ...without reading ahead


def test_cli_folder_batch_size_gives_the_same_records(tmp_path, shared_data):
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((shared_data / "widerface" / "WIDER_val" / "images").glob("*/*.jpg"))[:5]:
        (folder / path.name).write_bytes(path.read_bytes())
    records = {}
    for batch in (1, 3):
        out = tmp_path / f"out{batch}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge_sdk",
                "detect",
                str(folder),
                "--out",
                str(out),
                "--backend",
                "onnxruntime",
                "--batch-size",
                str(batch),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        lines = [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]
        records[batch] = {r["image"]: r for r in lines}
    assert records[1].keys() == records[3].keys() and len(records[1]) == 5
    assert {r["batch_size"] for r in records[3].values()} == {3, 2}
    for name, single in records[1].items():
        boxes = [f["box"] for f in single["faces"]]
        assert np.allclose(boxes, [f["box"] for f in records[3][name]["faces"]], atol=1e-2)
    bad = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "detect", str(folder), "--batch-size", "0"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "expected an integer in [1" in bad.stderr


def test_batching_benchmark_writes_its_table(tmp_path, shared_data):
    require("onnxruntime", "the [onnx] extra")
    from benchmarks.batching import main

    out, report = tmp_path / "BATCHING.md", tmp_path / "batching.json"
    assert (
        main(
            [
                "--data-root",
                str(shared_data),
                "--configs",
                "onnxruntime:fp32,tflite:fp32",
                "--threads",
                "1",
                "--batches",
                "1,2",
                "--images",
                "2",
                "--rounds",
                "1",
                "--out",
                str(out),
                "--json",
                str(report),
            ]
        )
        == 0
    )
    rows = json.loads(report.read_text())["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} == {(b, n) for b in ("onnxruntime", "tflite") for n in (1, 2)}
    assert all(r["images_per_s"] > 0 and np.isfinite(r["vs_batch_1"]) for r in rows)
    assert [r["vs_batch_1"] for r in rows if r["batch"] == 1] == [1.0, 1.0]
    assert "| onnxruntime | fp32 | 1 | any |" in out.read_text()
