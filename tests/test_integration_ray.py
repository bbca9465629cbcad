"""Ray Data batch inference on a local Ray runtime (127.0.0.2, 2 CPUs, small object store, own temp dir)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import cv2
import pytest

from .conftest import require
from .integration_support import RECORD_KEYS, assert_same_faces, real_images
from .record_schema import assert_valid_record

# Ray Data's own DataContext touches its deprecated attributes when it is pickled to the workers
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="module")
def ray_runtime():
    ray = require("ray", "edge-face-sdk[ray]: batch inference on Ray Data")
    require("pyarrow", "edge-face-sdk[ray]: Parquet/Arrow output")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S", "5")
    temp_dir = tempfile.mkdtemp(prefix="ray_", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    ray.init(
        address="local",
        num_cpus=2,
        _node_ip_address="127.0.0.2",
        object_store_memory=100 * 1024**2,
        _temp_dir=temp_dir,
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[list[Path], Path]:
    """The real images, plus a corrupt .jpg that must come out as an error row."""
    corrupt = tmp_path_factory.mktemp("corrupt") / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200))
    return real_images(), corrupt


def _rows(folder: Path) -> list[dict]:
    lines = [line for file in sorted(folder.glob("*.json")) for line in file.read_text().splitlines()]
    return [json.loads(line) for line in lines if line]


def test_detect_dataset_jsonl_with_blur_matches_python_api(ray_runtime, inputs, detector, tmp_path: Path) -> None:
    from edge_sdk.integrations.ray_data import detect_dataset

    images, corrupt = inputs
    result = detect_dataset(
        [str(p) for p in [*images, corrupt]],
        tmp_path / "out",
        output_format="jsonl",
        actors=1,
        batch_size=2,
        blur="blur",
        blur_dir=tmp_path / "blurred",
        backend="onnxruntime",
    )
    rows = {Path(r["image"]).name: r for r in _rows(Path(result["output"]))}
    assert set(rows) == {p.name for p in [*images, corrupt]}
    assert rows[corrupt.name]["error"]["type"] == "PayloadError" and rows[corrupt.name]["faces"] is None
    for row in rows.values():
        assert_valid_record(row)  # the versioned record, as table rows
    for path in images:
        row = rows[path.name]
        assert RECORD_KEYS <= set(row) and row["error"] is None
        expected = detector.detect(cv2.imread(str(path)))
        assert_same_faces(expected, row["faces"])
        blurred = cv2.imread(row["blurred"])
        assert blurred.shape == (row["height"], row["width"], 3)
        assert len(detector.detect(blurred)) < len(expected)
    with pytest.raises(Exception, match="exists"):  # never mix the rows of two runs
        detect_dataset([str(images[0])], tmp_path / "out", backend="onnxruntime")


def test_decoded_dataset_with_two_actors_to_parquet(ray_runtime, inputs, detector, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from edge_sdk.integrations.ray_data import detect_dataset

    images, _ = inputs
    # decoded RGB arrays; num_cpus=0 leaves both CPUs to the two detector actors (else the read never runs)
    dataset = ray_runtime.data.read_images([str(p) for p in images], include_paths=True, num_cpus=0)
    result = detect_dataset(
        dataset, tmp_path / "out", output_format="parquet", actors=2, batch_size=1, backend="onnxruntime"
    )
    table = pq.read_table(result["output"])
    assert table.num_rows == len(images)
    for row in table.to_pylist():
        path = next(p for p in images if row["image"].endswith(p.name))
        assert_same_faces(detector.detect(cv2.imread(str(path))), row["faces"])
