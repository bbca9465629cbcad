"""The distribution is ``edge-face-sdk``: ``edge-sdk`` on the package index is an unrelated project, so an install hint
with the old name installs the wrong software (and ``pip install -U 'edge-sdk[openvino]'`` replaces this SDK)."""

from __future__ import annotations

import re
import subprocess

import pytest

from edge_sdk import DISTRIBUTION, __version__
from edge_sdk._version import install_hint

from .conftest import IN_CI, REPO_ROOT

# The command `edge-sdk` never takes brackets; `edge-sdk[...]` is always the old distribution with extras.
OLD_HINTS = [
    re.compile(r"edge-sdk\\?\["),  # also the regex-escaped form in pytest.raises(match=r"edge-sdk\[onnx\]")
    re.compile(r"pip install\s+(-U\s+|--upgrade\s+)?['\"]?edge-sdk(?![\w-])"),
    re.compile(r"\bedge_sdk-\d+\.\d+"),  # the old wheel / sdist file names
]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".sh", ".json", ".yaml", ".yml", ".cpp", ".hpp", ""}


def tracked_text_files() -> list[str]:
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        if IN_CI:
            raise
        pytest.skip(f"not a git checkout ({exc})")
    files = [f for f in listing.decode().split("\0") if f]
    this = __file__.removeprefix(str(REPO_ROOT) + "/")
    return [f for f in files if f != this and ("." + f.rsplit(".", 1)[-1] if "." in f else "") in TEXT_SUFFIXES]


def test_no_install_hint_names_the_old_distribution() -> None:
    files = tracked_text_files()
    assert "README.md" in files and "edge_sdk/backends/base.py" in files, files[:20]
    hits = []
    for rel in files:
        path = REPO_ROOT / rel
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if any(p.search(line) for p in OLD_HINTS):
                hits.append(f"{rel}:{number}: {line.strip()}")
    assert not hits, f"install hints with the old distribution name (use {DISTRIBUTION!r}):\n" + "\n".join(hits)


def test_the_patterns_catch_the_old_hints() -> None:
    """The grep above is only as good as its patterns: they must flag the old forms and pass the new ones."""
    old = [
        "pip install 'edge-sdk[openvino]'",
        'pip install "edge-sdk[tflite,onnx]"',
        "pip install edge-sdk",
        "pip install -U edge-sdk",
        'wanted = f"edge-sdk[{s.extra}]"',
        "dist/edge_sdk-0.1.0-py3-none-any.whl",
        r'pytest.raises(BackendUnavailableError, match=r"edge-sdk\[onnx\]")',
    ]
    new = [
        install_hint("openvino"),
        "edge-sdk detect photo.jpg",
        "pip install edge-face-sdk",
        "dist/edge_face_sdk-0.1.0-py3-none-any.whl",
        "`edge-sdk info`",
        "pip install -e '.[export,train,quantize,eval,dev]'",
    ]
    assert all(any(p.search(line) for p in OLD_HINTS) for line in old)
    assert not [line for line in new if any(p.search(line) for p in OLD_HINTS)]


def test_one_name_and_one_version() -> None:
    """pyproject.toml names the same distribution and takes its version from edge_sdk (no second copy)."""
    text = (REPO_ROOT / "pyproject.toml").read_text()
    project = text.split("[project]", 1)[1].split("\n[", 1)[0]  # the [project] table (Python 3.10 has no tomllib)
    assert re.findall(r'^name = "([^"]+)"', project, re.M) == [DISTRIBUTION] == ["edge-face-sdk"]
    assert re.search(r'^dynamic = \["version"\]', project, re.M) and not re.search(r"^version =", project, re.M)
    assert 'version = {attr = "edge_sdk._version.__version__"}' in text
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert install_hint("onnx") == "pip install 'edge-face-sdk[onnx]'"
