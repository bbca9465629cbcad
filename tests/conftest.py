"""Shared fixtures. Real data comes from ../shared/data (or $EDGE_SDK_DATA): skipped where absent, fatal in CI."""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
IN_CI = bool(os.environ.get("CI"))


def pytest_configure(config: pytest.Config) -> None:
    """A private backend-choice cache for the run (subprocesses inherit it), so that a developer's `edge-sdk tune`
    never changes which backend `backend="auto"` gives the tests."""
    import tempfile

    os.environ["EDGE_SDK_CACHE_DIR"] = tempfile.mkdtemp(prefix="edge-sdk-test-cache-")


def require(module: str, why: str):
    """Import ``module`` or skip (outside CI) / fail (in CI, where every extra is installed)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI:
            raise RuntimeError(f"{module} is required in CI ({why}): {exc}") from exc
        pytest.skip(f"{module} not installed ({why})", allow_module_level=True)


def data_root() -> Path:
    """$EDGE_SDK_DATA (relative paths from the repo root) or ../shared/data; skip where absent, fail in CI."""
    root = Path(os.environ.get("EDGE_SDK_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not root.is_absolute():
        root = (REPO_ROOT / root).resolve()
    if not (root / "widerface").is_dir():
        if IN_CI:
            raise RuntimeError(f"CI must have the shared face data at {root}")
        pytest.skip(f"shared face data not found at {root} (set EDGE_SDK_DATA)")
    return root


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return data_root()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    image = cv2.imread(str(REPO_ROOT / "samples" / "astronaut.png"))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def detector():
    from edge_sdk import FaceDetector

    return FaceDetector(backend="onnxruntime", input_size=640)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small CPU training runs are fastest single-threaded on a shared machine; restores the setting afterwards."""
    torch = require("torch", "the [train] extra")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def copy_bundled_model(parent: Path, name: str = "model") -> Path:
    """A writable copy of the bundled model directory, for tests that tamper with it."""
    from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

    target = parent / name
    shutil.copytree(BUNDLED_DIR / DEFAULT_MODEL, target)
    return target


def flip_middle_byte(path: Path) -> None:
    """Corrupt a file by one bit flip in the middle (same size, different checksum)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
