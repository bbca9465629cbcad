"""backend="auto" by measurement: the cache is keyed correctly (another model or runtime version re-tunes), a corrupt
cache is ignored with a warning, and the detector follows the cached choice."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_sdk import FaceDetector, backend_choice, tuning
from edge_sdk.detector import AUTO_ORDER
from edge_sdk.models import BUNDLED_DIR, DEFAULT_MODEL

from .conftest import REPO_ROOT, copy_bundled_model

MANIFEST = BUNDLED_DIR / DEFAULT_MODEL / "manifest.json"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(tuning.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache" / tuning.CACHE_FILE


def _pretend_tuned(choice: str, manifest: Path = MANIFEST) -> tuning.TuneKey:
    """A cache entry for the default settings, as tune() writes it, naming ``choice`` the fastest."""
    key = tuning.TuneKey.for_model(tuning.manifest_digest(manifest), "fp32", (640, 640), None)
    tuning.save_result(tuning.TuneResult(key, choice, (), 0.0))
    return key


def test_tune_measures_every_installed_backend_and_caches_the_fastest(cache: Path) -> None:
    result = tuning.tune(budget_s=0.3)
    timed = [c for c in result.candidates if c.median_ms is not None]
    assert len(timed) >= 2 and all(c.calls >= tuning.MIN_CALLS for c in timed)
    assert result.choice == min(timed, key=lambda c: c.median_ms).backend
    assert cache.is_file() and tuning.cached_choice(MANIFEST, "fp32", (640, 640), None) == result.choice
    assert FaceDetector().backend_name == result.choice


@pytest.mark.parametrize("choice", ["onnxruntime", "tflite"])
def test_auto_follows_the_cached_choice(cache: Path, choice: str) -> None:
    _pretend_tuned(choice)
    assert FaceDetector().backend_name == choice
    assert FaceDetector(input_size=None).backend_name != "tflite"  # another key: the static order, no 640-only file


def test_another_model_or_runtime_version_is_a_cache_miss(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _pretend_tuned("onnxruntime")
    other = copy_bundled_model(tmp_path)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["description"] += " (retrained)"
    (other / "manifest.json").write_text(json.dumps(manifest))
    assert tuning.cached_choice(other / "manifest.json", "fp32", (640, 640), None) is None
    assert FaceDetector(model=other).backend_name == AUTO_ORDER[0]
    facts = backend_choice._machine_facts()
    bumped = tuple((p, "99.0" if p == "onnxruntime" else v) for p, v in facts[4])
    monkeypatch.setattr(backend_choice, "_machine_facts", lambda: (*facts[:4], bumped))
    assert tuning.cached_choice(MANIFEST, "fp32", (640, 640), None) is None  # a runtime upgrade re-tunes


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": 1, "entries": {"a": 1}}', "\x00\x01"])
def test_corrupt_cache_is_ignored_with_a_warning(cache: Path, content: str, caplog: pytest.LogCaptureFixture) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(content)
    with caplog.at_level(logging.WARNING, logger="edge_sdk.backend_choice"):
        assert FaceDetector().backend_name == AUTO_ORDER[0]
    assert "ignoring the backend-choice cache" in caplog.text
    _pretend_tuned("onnxruntime")  # rewriting replaces the corrupt file
    assert FaceDetector().backend_name == "onnxruntime"


def test_cli_tune_and_info_show_the_choice(tmp_path: Path) -> None:
    env = {**os.environ, tuning.CACHE_ENV: str(tmp_path)}
    tuned = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "tune", "--budget", "0.3", "--json"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tuned.returncode == 0, tuned.stderr
    choice = json.loads(tuned.stdout)["choice"]
    info = subprocess.run(
        [sys.executable, "-m", "edge_sdk", "info"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert json.loads(info.stdout)["auto"]["tuned"]["choice"] == choice
