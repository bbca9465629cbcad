"""CLI on folders and videos, privacy blur, streams, and every example script (so none rots)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector
from edge_sdk.privacy import anonymize_faces

from .conftest import REPO_ROOT


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def face_video(tmp_path_factory, astronaut) -> Path:
    """12 frames: the astronaut sliding right over a grey canvas (written with OpenCV)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 512))
    for i in range(12):
        frame = np.full((512, 640, 3), 127, np.uint8)
        frame[:, i * 10 : i * 10 + 512] = astronaut
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, shared_data, astronaut) -> Path:
    folder = tmp_path_factory.mktemp("folder")
    (folder / "nested").mkdir()
    cv2.imwrite(str(folder / "astronaut.png"), astronaut)
    for i, path in enumerate(sorted((shared_data / "widerface/WIDER_val/images").glob("*/*.jpg"))[:2]):
        (folder / "nested" / f"wider_{i}.jpg").write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_blur_changes_faces_only(astronaut):
    faces = FaceDetector().detect(astronaut)
    for mode in ("blur", "pixelate"):
        out = anonymize_faces(astronaut, faces, mode=mode, margin=0.0)
        x1, y1, x2, y2 = faces.boxes[0].astype(int)
        inside = np.zeros(astronaut.shape[:2], bool)
        inside[y1 : y2 + 1, x1 : x2 + 1] = True
        assert np.abs(out[inside].astype(int) - astronaut[inside]).mean() > 3  # the face really changed
        np.testing.assert_array_equal(out[~inside], astronaut[~inside])  # nothing else did
        # with the default margin the face is gone for the detector too
        assert len(FaceDetector().detect(anonymize_faces(astronaut, faces, mode=mode))) == 0, mode


def test_cli_folder_writes_images_and_jsonl(image_folder, tmp_path):
    result = run("-m", "edge_sdk", "detect", str(image_folder), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "detections.jsonl").read_text().splitlines()]
    assert sorted(line["image"] for line in lines) == ["astronaut.png", "nested/wider_0.jpg", "nested/wider_1.jpg"]
    assert next(line for line in lines if line["image"] == "astronaut.png")["faces"][0]["score"] > 0.9
    assert (tmp_path / "nested" / "wider_0.jpg").is_file()  # folder runs keep each input's format
    assert (tmp_path / "astronaut.png").is_file()


def test_cli_video_blur(face_video, tmp_path):
    result = run("-m", "edge_sdk", "detect", str(face_video), "--out", str(tmp_path), "--blur", "blur")
    assert result.returncode == 0, result.stderr
    frames = [json.loads(line) for line in (tmp_path / "clip_faces.jsonl").read_text().splitlines()]
    assert len(frames) == 12 and all(len(f["faces"]) == 1 for f in frames)
    capture = cv2.VideoCapture(str(tmp_path / "clip_faces.mp4"))
    original = cv2.VideoCapture(str(face_video))
    ok, blurred = capture.read()
    _, source = original.read()
    assert ok
    x1, y1, x2, y2 = (int(v) for v in frames[0]["faces"][0]["box"])
    face_diff = np.abs(blurred[y1:y2, x1:x2].astype(int) - source[y1:y2, x1:x2]).mean()
    corner_diff = np.abs(blurred[:40, -40:].astype(int) - source[:40, -40:]).mean()  # grey background
    assert face_diff > 5 and corner_diff < face_diff / 4  # codec noise aside, only the face changed


def test_stream_frame_skipping(face_video):
    detector = FaceDetector()
    capture = cv2.VideoCapture(str(face_video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    results = list(detector.stream(frames, every=3))
    assert len(results) == 12
    assert results[1][1] is results[0][1] and results[3][1] is not results[0][1]


def test_examples_run(tmp_path, face_video, image_folder):
    checks = [
        (["examples/detect_image.py", "samples/astronaut.png"], "1 face(s)"),
        (["examples/blur_video.py", str(face_video), str(tmp_path / "blurred.mp4"), "--every", "2"], "wrote"),
        (["examples/folder_to_csv.py", str(image_folder), str(tmp_path / "faces.csv")], "wrote"),
        (
            ["examples/camera_fps.py", str(face_video), "--max-frames", "5", "--headless", str(tmp_path / "fps.mp4")],
            "done",
        ),
    ]
    for args, expected in checks:
        result = run(*args)
        assert result.returncode == 0, (args, result.stderr[-2000:])
        assert expected in result.stdout, (args, result.stdout)
    rows = (tmp_path / "faces.csv").read_text().splitlines()
    assert rows[0].startswith("image,score") and any(r.startswith("astronaut.png") for r in rows[1:])
    assert (tmp_path / "blurred.mp4").stat().st_size > 0


def test_cli_info_and_help():
    info = run("-m", "edge_sdk", "info")
    assert info.returncode == 0 and "retinaface_mnet025" in info.stdout
    assert run("-m", "edge_sdk", "detect", "--help").returncode == 0
    bad = run("-m", "edge_sdk", "detect", "samples/astronaut.png", "--score-threshold", "7")
    assert bad.returncode == 2 and "--score-threshold" in bad.stderr and len(bad.stderr.splitlines()) == 1
