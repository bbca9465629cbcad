"""The example scripts users copy first: every one answers --help, and a corrupt or unreadable input gives a clear
message and a non-zero exit (or, for a folder, a recorded error and the rest processed) instead of a traceback.

The scripts run as users run them (a subprocess from the repo root) against this checkout's edge_sdk.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector

from .conftest import REPO_ROOT
from .integration_support import real_images

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))


def run_example(script: str, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))  # this checkout's edge_sdk
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / script), *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """Our messages; runtimes add their own log lines (TFLite's INFO, FFmpeg's demuxer) to stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """Two real images (a PNG and a WIDER FACE val JPEG) and two broken ones, in one folder."""
    folder = tmp_path_factory.mktemp("images")
    jpeg = real_images()[2]
    files = {
        "astronaut.png": (REPO_ROOT / "samples" / "astronaut.png").read_bytes(),
        "nested/wider.jpg": jpeg.read_bytes(),
        "nested/truncated.jpg": jpeg.read_bytes()[:20000],
        "text.jpg": b"this is a text file, not a JPEG\n",
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_bytes(data)
    return {name: folder / name for name in files}


@pytest.fixture(scope="module")
def broken_videos(tmp_path_factory, astronaut) -> dict[str, Path]:
    """A text file named .mp4, a real MP4 cut in half (no index: cannot be opened), an AVI without frames."""
    folder = tmp_path_factory.mktemp("videos")
    whole = folder / "whole.mp4"
    writer = cv2.VideoWriter(str(whole), cv2.VideoWriter_fourcc(*"mp4v"), 10, (512, 512))
    for _ in range(5):
        writer.write(astronaut)
    writer.release()
    videos = {"text": folder / "text.mp4", "truncated": folder / "truncated.mp4", "empty": folder / "empty.avi"}
    videos["text"].write_text("not a video\n")
    videos["truncated"].write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    cv2.VideoWriter(str(videos["empty"]), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64)).release()
    assert videos["empty"].stat().st_size > 0
    return videos


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_every_example_answers_help(script: Path) -> None:
    result = run_example(script.name, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ") and "--help" in result.stdout, result.stdout


def test_detect_image_corrupt_file_is_one_error_line(images) -> None:
    good = run_example("detect_image.py", str(images["nested/wider.jpg"]))
    assert good.returncode == 0 and good.stdout.endswith("1 face(s)\n"), good.stderr
    for name in ("nested/truncated.jpg", "text.jpg"):
        result = run_example("detect_image.py", str(images[name]))
        assert result.returncode == 2 and result.stdout == "", (name, result.stdout, result.stderr)
        (line,) = error_lines(result)
        assert str(images[name]) in line and "cannot decode" in line, line


def test_folder_to_csv_records_corrupt_images_and_goes_on(images, tmp_path: Path) -> None:
    folder, out = images["astronaut.png"].parent, tmp_path / "faces.csv"
    result = run_example("folder_to_csv.py", str(folder), str(out))
    assert result.returncode == 1, result.stderr  # some images were unreadable; the run still completed
    assert "Traceback" not in result.stderr
    assert result.stdout.strip().endswith("4 image(s), 2 face(s), 2 unreadable"), result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert [line.split(":")[0] for line in skipped] == ["skipped nested/truncated.jpg", "skipped text.jpg"]
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    errors = {row["image"]: row["error"] for row in rows if row["error"]}
    assert sorted(errors) == ["nested/truncated.jpg", "text.jpg"]
    assert all("cannot decode" in message for message in errors.values())
    assert all(row["score"] == "" for row in rows if row["error"])
    detector = FaceDetector()
    for name in ("astronaut.png", "nested/wider.jpg"):  # the good images, processed as the SDK processes them
        faces = [row for row in rows if row["image"] == name]
        expected = detector.detect(images[name])
        assert len(faces) == len(expected) == 1 and faces[0]["error"] == ""
        box = [float(faces[0][key]) for key in ("x1", "y1", "x2", "y2")]
        np.testing.assert_allclose(box, expected.boxes[0], atol=0.051)  # the CSV prints one decimal


@pytest.mark.parametrize(
    ("kind", "reasons"),
    [
        ("text", ["cannot open"]),
        ("truncated", ["cannot open"]),
        ("empty", ["no frame could be read"]),
        (
            "missing",
            ["cannot open", "does not exist"],
        ),  # blur_video opens it as a video; camera_fps classifies it first
    ],
)
def test_video_examples_report_an_unreadable_source(broken_videos, tmp_path: Path, kind: str, reasons) -> None:
    source = str(broken_videos.get(kind, tmp_path / "missing.mp4"))
    runs = {
        "blur_video.py": run_example("blur_video.py", source, str(tmp_path / "blurred.mp4")),
        "camera_fps.py": run_example("camera_fps.py", source, "--headless", str(tmp_path / "fps.mp4")),
    }
    for script, result in runs.items():
        assert result.returncode == 2 and result.stdout == "", (script, result.stdout, result.stderr)
        (line,) = error_lines(result)
        assert source in line and any(reason in line for reason in reasons), (script, line)
    assert not (tmp_path / "blurred.mp4").exists() and not (tmp_path / "fps.mp4").exists()
