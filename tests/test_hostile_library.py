"""Hostile but fair input to the library and the CLI (issue "Hardening, round two", items 4-7): decompression bombs,
lost output, exit codes, untyped exceptions, 16-bit and float PIL images. Each test failed on the code before."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector, InvalidArgumentError, InvalidImageError
from edge_sdk.image import header_dimensions, load_image, to_bgr_uint8

from .conftest import REPO_ROOT, copy_bundled_model

BOMB_SIDE = 32768


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid ~1 MB grayscale PNG of 32768 x 32768 zeros: 1 GiB once decoded (3 GiB as BGR)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (BOMB_SIDE + 1)  # filter byte + pixels
    idat = b"".join(compressor.compress(row * 1024) for _ in range(BOMB_SIDE // 1024)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(data)
    assert len(data) < 2 * 1024 * 1024
    return path


def _peak_rss_mb(code: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``code`` in a fresh interpreter; its output and the child's peak RSS in MB."""
    # VmHWM, not getrusage: ru_maxrss of an exec'd child starts at its parent's (the test process, often > 1 GB)
    wrapper = code + (
        "\nprint('PEAK', next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM')))"
    )
    done = subprocess.run([sys.executable, "-c", wrapper], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    peak = [line for line in done.stdout.splitlines() if line.startswith("PEAK")]
    return done, (int(peak[0].split()[1]) / 1024 if peak else float("nan"))


# ------------------------------------------------------------------------------------------------ item 4: bombs


def test_header_gives_the_bomb_size_without_decoding(bomb: Path) -> None:
    assert header_dimensions(bomb.read_bytes()) == (BOMB_SIDE, BOMB_SIDE)


@pytest.mark.parametrize("as_bytes", [False, True], ids=["path", "bytes"])
def test_decompression_bomb_is_refused_before_decoding(bomb: Path, as_bytes: bool) -> None:
    source = f"open({str(bomb)!r}, 'rb').read()" if as_bytes else repr(str(bomb))
    done, peak_mb = _peak_rss_mb(
        "from edge_sdk.image import to_bgr_uint8\nfrom edge_sdk import InvalidImageError\n"
        f"try:\n    to_bgr_uint8({source}, max_pixels=10**6)\nexcept InvalidImageError as e:\n    print('refused', e)"
    )
    assert "refused" in done.stdout and "32768x32768" in done.stdout, done.stdout + done.stderr
    assert peak_mb < 400, f"peak RSS {peak_mb:.0f} MB: the image was decoded"


def test_detector_refuses_the_bomb_with_its_default_limit(detector: FaceDetector, bomb: Path) -> None:
    with pytest.raises(InvalidImageError, match="exceeds the limit"):
        detector.detect(bomb)
    with pytest.raises(InvalidImageError, match="exceeds the limit"):
        load_image(bomb.read_bytes())


def test_huge_array_is_refused_before_it_is_converted() -> None:
    huge = np.broadcast_to(np.float32(0.5), (12000, 12000, 3))  # a view: no memory until something converts it
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImageError, match="exceeds the limit"):
            to_bgr_uint8(huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, f"{peak / 2**20:.0f} MB allocated before the size check"


def test_cli_folder_run_records_the_bomb_and_goes_on(bomb: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_bomb.png").write_bytes(bomb.read_bytes())
    for name in ("b_face.png", "c_face.png"):
        (folder / name).write_bytes((REPO_ROOT / "samples" / "astronaut.png").read_bytes())
    done = _cli("detect", str(folder), "--out", str(tmp_path / "out"), "--backend", "onnxruntime")
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in (tmp_path / "out" / "detections.jsonl").read_text().splitlines()]
    by_image = {r["image"]: r for r in records}
    assert by_image["a_bomb.png"]["error"]["type"] == "InvalidImageError"
    assert "exceeds the limit" in by_image["a_bomb.png"]["error"]["message"]
    assert all(len(by_image[n]["faces"]) == 1 for n in ("b_face.png", "c_face.png"))


# ------------------------------------------------------------------------------------------------ item 5: the CLI


def _cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge_sdk", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout
    )


def _assert_one_line_exit_2(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("INFO:")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "→" not in done.stdout  # nothing claims an output that was not written


def test_cli_unwritable_outputs_are_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    blocked = tmp_path / "blocked"
    (blocked / "astronaut_faces.png").mkdir(parents=True)  # the picture's path is taken by a folder
    for out in (a_file, a_file / "below", Path("/proc/edge-sdk-out"), blocked):
        _assert_one_line_exit_2(_cli("detect", "samples/astronaut.png", "--out", str(out), "--backend", "onnxruntime"))


@pytest.mark.parametrize(
    "args",
    [
        ("detect", "samples/astronaut.png", "--threads", "2147483648", "--backend", "onnxruntime"),
        ("serve", "--port", "99999"),
        ("detect", "samples/astronaut.png", "--max-frames", "0"),
        ("detect", "samples/astronaut.png", "--input-size", "abc"),
        ("detect", "samples/astronaut.png", "--backend", "nope"),
        ("detect", "no-such-file.jpg"),
        ("bench", "--backend", "nope"),
    ],
    ids=["threads", "port", "max-frames-0", "input-size", "backend", "missing-file", "bench-backend"],
)
def test_cli_bad_arguments_are_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    _assert_one_line_exit_2(_cli(*args))


def test_cli_malformed_manifest_is_one_line_and_exit_2(tmp_path: Path) -> None:
    model = copy_bundled_model(tmp_path)
    for text in ("[]", "null", "{not json", '{"name": 1}'):
        (model / "manifest.json").write_text(text)
        _assert_one_line_exit_2(
            _cli("detect", "samples/astronaut.png", "--model", str(model), "--out", str(tmp_path / "out"))
        )


def test_cli_verbose_after_the_subcommand_shows_the_traceback(tmp_path: Path) -> None:
    done = _cli("detect", "samples/astronaut.png", "--out", str(tmp_path / "f" / "x"), "--backend", "onnxruntime", "-v")
    assert done.returncode == 0 and "INFO" in done.stderr
    failed = _cli("detect", "samples/astronaut.png", "--out", "/proc/edge-sdk-out", "-v")
    assert failed.returncode == 2 and "Traceback" in failed.stderr


def test_cli_folder_lists_links_fifos_and_loops_as_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.png").write_bytes((REPO_ROOT / "samples" / "astronaut.png").read_bytes())
    (folder / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(folder / "pipe.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "back_up").symlink_to(folder)  # a folder loop
    done = _cli("detect", str(folder), "--out", str(tmp_path / "out"), "--backend", "onnxruntime", timeout=120)
    assert done.returncode == 1, done.stderr
    records = {r["image"]: r for r in map(json.loads, (tmp_path / "out" / "detections.jsonl").read_text().splitlines())}
    assert len(records["good.png"]["faces"]) == 1
    reasons = {name: records[name]["error"]["message"] for name in ("dangling.jpg", "pipe.jpg", "loop.jpg", "back_up")}
    assert reasons == {
        "dangling.jpg": "dangling symbolic link",
        "pipe.jpg": "FIFO (named pipe), not a file",
        "loop.jpg": "symbolic link loop",
        "back_up": "symbolic link to a folder (not followed)",
    }


# ------------------------------------------------------------------------------------------------ item 6: typed errors


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.detect_batch(None),
        lambda d: d.detect_batch(5),
        lambda d: d.detect_batch(_pil_astronaut()),
        lambda d: d.stream(None),
        lambda d: d.stream(5),
    ],
    ids=["batch-None", "batch-5", "batch-PIL", "stream-None", "stream-5"],
)
def test_bad_calls_raise_typed_errors(detector: FaceDetector, call) -> None:
    with pytest.raises(InvalidArgumentError):
        call(detector)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backend": None},
        {"backend": 1},
        {"backend": "onnxruntime", "device": 1},
        {"model": 123},
        {"backend": "onnxruntime", "threads": 2**31},
        {"threads": True},
        {"max_faces": True},
        {"precision": None},
        {"score_threshold": True},
        {"max_pixels": np.bool_(True)},
    ],
    ids=lambda k: ",".join(f"{a}={b!r}" for a, b in k.items()),
)
def test_bad_constructor_arguments_raise_typed_errors(kwargs: dict) -> None:
    with pytest.raises(InvalidArgumentError):
        FaceDetector(**kwargs)


def test_numpy_scalars_are_normal_arguments(astronaut: np.ndarray) -> None:
    detector = FaceDetector(
        backend="onnxruntime",
        score_threshold=np.float32(0.5),
        nms_threshold=np.float64(0.4),
        max_faces=np.int64(3),
        threads=np.int32(1),
    )
    assert detector.score_threshold == 0.5 and detector.max_faces == 3
    assert len(detector.detect(astronaut)) == 1


# ------------------------------------------------------------------------------------------------ item 7: PIL modes


def _pil_astronaut():
    from PIL import Image

    return Image.open(REPO_ROOT / "samples" / "astronaut.png")


def test_wide_pil_modes_find_the_face_like_the_file_does(detector: FaceDetector, tmp_path: Path) -> None:
    from PIL import Image

    gray8 = cv2.cvtColor(cv2.imread(str(REPO_ROOT / "samples" / "astronaut.png")), cv2.COLOR_BGR2GRAY)
    sixteen = gray8.astype(np.uint16) * 257  # full 16-bit range
    path16 = tmp_path / "gray16.png"
    assert cv2.imwrite(str(path16), sixteen)
    reference = detector.detect(path16)  # the path: OpenCV scales 16 bits to 8
    assert len(reference) == 1
    variants = {
        "I;16 (file)": Image.open(path16),
        "I (int32, 16-bit values)": Image.fromarray(sixteen.astype(np.int32), mode="I"),
        "I (int32, 8-bit values)": Image.fromarray(gray8.astype(np.int32), mode="I"),
        "F in [0, 1]": Image.fromarray(gray8.astype(np.float32) / 255.0, mode="F"),
    }
    assert variants["I;16 (file)"].mode.startswith("I")
    for name, image in variants.items():
        faces = detector.detect(image)
        assert len(faces) == 1, name
        np.testing.assert_allclose(faces.boxes, reference.boxes, atol=1.0, err_msg=name)


def test_float_pil_image_outside_unit_range_is_refused(detector: FaceDetector) -> None:
    from PIL import Image

    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        detector.detect(Image.fromarray(np.full((64, 64), 200.0, np.float32), mode="F"))


def test_unknown_header_is_a_typed_error() -> None:
    with pytest.raises(InvalidImageError):
        load_image(b"\x00\x01garbage" * 100)
    with pytest.raises(InvalidImageError):
        load_image(io.BytesIO(b"x").getvalue())
