"""The on-device runtime imports and detects with torch, training and export made unimportable."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO_ROOT

BLOCKER = """
import importlib.abc, sys
BLOCKED = {"torch", "torchvision", "training", "export", "tensorflow", "evaluation"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: the runtime must not need it")
sys.meta_path.insert(0, Block())
"""

SCRIPT = (
    BLOCKER
    + """
import cv2
import edge_sdk
faces = edge_sdk.FaceDetector(input_size=640).detect(cv2.imread("samples/astronaut.png"))
assert len(faces) == 1, len(faces)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
print("ok", len(faces))
"""
)


def test_detect_without_torch():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok 1"


def test_blocker_really_blocks():
    script = BLOCKER + "\ntry:\n    import torch\nexcept ImportError:\n    print('blocked')\n"
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "blocked"
