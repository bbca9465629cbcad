"""The versioned detection record: the schema is sound, and every producer's output validates against it — the CLI
(image file, --json, folder JSONL with error records, video JSONL with frames, timestamps and track ids), the service
helpers (HTTP/MQTT/Ray share detect_record) and Ray Data's rows."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import cv2
import jsonschema
import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.integrations.records import detect_record, example_record
from edge_sdk.records import SCHEMA_VERSION, FrameInfo, detection_record, error_record, schema, utc_iso

from .conftest import REPO_ROOT
from .record_schema import assert_valid_record


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )


def test_schema_is_valid_draft_2020_12_and_rejects_broken_records(detector: FaceDetector, astronaut) -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    _, record = detect_record(detector, astronaut, "astronaut.png")
    assert_valid_record(record)
    assert record["schema_version"] == SCHEMA_VERSION and record["model_sha256"] == detector.model_file.sha256
    broken = {
        "no faces": lambda r: r.pop("faces"),
        "score > 1": lambda r: r["faces"][0].update(score=1.5),
        "4 landmarks": lambda r: r["faces"][0]["landmarks"].pop("nose"),
        "bad timestamp": lambda r: r.update(timestamp="yesterday"),
        "other version": lambda r: r.update(schema_version=2),
        "short sha": lambda r: r.update(model_sha256="abc"),
        "faces and error": lambda r: r.update(error={"type": "X", "message": "y"}),
    }
    for name, damage in broken.items():
        bad = copy.deepcopy(record)
        damage(bad)
        with pytest.raises(AssertionError, match="violates the schema"):
            assert_valid_record(bad)
        print("rejected:", name)


def test_record_builders_validate(detector: FaceDetector, astronaut) -> None:
    assert_valid_record(example_record(detector))
    assert_valid_record(error_record(FrameInfo(image="x.jpg", timestamp=0.0), ValueError("broken")))
    info = FrameInfo(image="cam", timestamp=1_700_000_000.25, frame=7, media_time_ms=280.0, reconnects=1)
    tracked = detector.detect(astronaut).with_track_ids(np.array([3]))
    record = detection_record(detector, tracked, info, 512, 512, 12.5, batch_size=2)
    assert_valid_record(record)
    assert record["timestamp"] == "2023-11-14T22:13:20.250Z" == utc_iso(1_700_000_000.25)
    assert record["faces"][0]["track_id"] == 3 and record["frame"] == 7 and record["reconnects"] == 1


def test_cli_image_json_file_and_stdout(tmp_path: Path) -> None:
    done = _cli("detect", "samples/astronaut.png", "--out", str(tmp_path), "--backend", "onnxruntime")
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "astronaut_faces.json").read_text())
    assert_valid_record(record)
    piped = _cli("detect", "samples/astronaut.png", "--json", "--backend", "onnxruntime", "--out", str(tmp_path / "x"))
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.splitlines()
    assert len(lines) == 1, piped.stdout  # nothing but the record on stdout
    assert_valid_record(json.loads(lines[0]))
    assert not (tmp_path / "x").exists()  # --json implies --save none


def test_cli_folder_jsonl_with_error_records(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    wider = sorted((shared_data / "widerface" / "WIDER_val" / "images").rglob("*.jpg"))[:2]
    for i, path in enumerate(wider):
        (folder / "sub" / f"w{i}.jpg").write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    done = _cli("detect", str(folder), "--json", "--backend", "onnxruntime", "--batch-size", "2")
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 3
    for record in records:
        assert_valid_record(record)
    assert {r["image"] for r in records if "error" in r} == {"broken.jpg"}
    saved = _cli("detect", str(folder), "--out", str(tmp_path / "out"), "--save", "blurred", "--backend", "onnxruntime")
    assert saved.returncode == 1
    assert (tmp_path / "out" / "sub" / "w0.jpg").is_file()  # the input's format is kept
    assert cv2.imread(str(tmp_path / "out" / "sub" / "w0.jpg")) is not None


def test_cli_video_records_carry_frames_timestamps_and_track_ids(tmp_path: Path, astronaut) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (512, 512))
    for k in range(8):
        writer.write(np.roll(astronaut, 4 * k, axis=1))
    writer.release()
    done = _cli("detect", str(video), "--json", "--track", "--backend", "onnxruntime", "--every", "2")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["frame"] for r in records] == list(range(8))
    for record in records:
        assert_valid_record(record)
    times = [r["media_time_ms"] for r in records]
    np.testing.assert_allclose(np.diff(times), 100.0, atol=1.0)  # 10 fps: the container's presentation times
    assert {f["track_id"] for r in records for f in r["faces"]} == {1}  # one face, one identity throughout
    assert [r["latency_ms"] > 0 for r in records] == [True, False] * 4  # every 2nd frame reuses the faces
