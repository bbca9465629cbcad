"""The wheel a device installs: built like a release (sdist, then the wheel from the sdist, which must equal a wheel
built straight from the tree), installed with ``[tflite]`` into a fresh venv that cannot see this checkout, where it
must add exactly one top-level package (``edge_sdk``), pull no torch, and detect the astronaut's face.

Needs the package index (or a pip cache that holds the requirements): skipped without it, fatal in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from edge_sdk import DISTRIBUTION, __version__

from .conftest import IN_CI, REPO_ROOT, require

require("build", "the [dev] extra: python -m build")
WHEEL_NAME = f"{DISTRIBUTION.replace('-', '_')}-{__version__}"
TOOLING = ("training", "export", "evaluation", "benchmarks", "tests", "scripts", "examples")


def _build_dist_module():
    spec = importlib.util.spec_from_file_location("build_dist", REPO_ROOT / "scripts" / "build_dist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pip(python: Path, *args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_clean_env(),
    )


def _clean_env() -> dict[str, str]:
    """The environment without anything that would put this checkout (or another venv) on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _index_reachable(cwd: Path) -> tuple[bool, str]:
    """Whether pip's configured index answers (a lookup of setuptools, which every isolated build needs)."""
    done = _pip(Path(sys.executable), "index", "versions", "setuptools", cwd=cwd, timeout=60)
    return done.returncode == 0, (done.stderr or done.stdout).strip()[-500:]


def _top_level(python: Path, cwd: Path) -> set[str]:
    """Import names at the top of the venv's site-packages (packages and modules; metadata folders left out)."""
    code = (
        "import json, pathlib, sysconfig; sp = pathlib.Path(sysconfig.get_paths()['purelib']); "
        "pl = pathlib.Path(sysconfig.get_paths()['platlib']); names = set()\n"
        "for d in {sp, pl}:\n"
        "    for p in d.iterdir():\n"
        "        if p.name.endswith(('.dist-info', '.egg-info', '.pth')) or p.name in ('__pycache__',):\n"
        "            continue\n"
        "        names.add(p.name.split('.')[0] if p.is_file() else p.name)\n"
        "print(json.dumps(sorted(names)))"
    )
    done = subprocess.run(
        [str(python), "-c", code], cwd=cwd, capture_output=True, text=True, check=True, env=_clean_env()
    )
    return set(json.loads(done.stdout))


def _requirements(wheel: Path, extra: str) -> list[str]:
    """The wheel's Requires-Dist for the core and one extra, markers dropped (what the baseline venv gets)."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{WHEEL_NAME}.dist-info/METADATA").decode()
    wanted = []
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist: "):
            continue
        requirement, _, marker = line.removeprefix("Requires-Dist: ").partition(";")
        if not marker or re.search(rf"extra == ['\"]{extra}['\"]", marker):
            wanted.append(requirement.strip())
    return wanted


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    reachable, why = _index_reachable(out)
    if not reachable:
        if IN_CI:
            raise RuntimeError(f"CI needs the package index for the packaging test: {why}")
        pytest.skip(f"package index not reachable ({why})")
    return _build_dist_module().build_all(out, compare=True)


def test_wheel_holds_the_runtime_only(dist: dict[str, Path]) -> None:
    """One top-level package with its models, licenses and py.typed; the sdist builds the same wheel (checked by
    build_all: same files, same sha256); the tooling ships in neither."""
    wheel, sdist = dist["wheel"], dist["sdist"]
    assert wheel.name == f"{WHEEL_NAME}-py3-none-any.whl" and sdist.name == f"{WHEEL_NAME}.tar.gz"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = archive.read(f"{WHEEL_NAME}.dist-info/top_level.txt").decode().split()
        entry_points = archive.read(f"{WHEEL_NAME}.dist-info/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"edge_sdk", f"{WHEEL_NAME}.dist-info"}
    assert top_level == ["edge_sdk"]
    assert "edge-sdk = edge_sdk.cli:main" in entry_points
    model_dir = REPO_ROOT / "edge_sdk" / "models" / "retinaface_mnet025"
    for path in model_dir.iterdir():
        assert f"edge_sdk/models/retinaface_mnet025/{path.name}" in names, path.name
    for needed in (
        "edge_sdk/py.typed",
        "edge_sdk/_version.py",
        f"{WHEEL_NAME}.dist-info/licenses/LICENSE",
        f"{WHEEL_NAME}.dist-info/licenses/edge_sdk/models/retinaface_mnet025/LICENSE-weights.txt",
    ):
        assert needed in names, needed
    import tarfile

    with tarfile.open(sdist) as archive:
        members = [m.split("/", 1)[1] for m in archive.getnames() if "/" in m]
    assert not [m for m in members if m.split("/")[0] in TOOLING], "tooling in the sdist"
    assert {"pyproject.toml", "LICENSE", "README.md", "CHANGELOG.md", "edge_sdk/py.typed"} <= set(members)


def test_wheel_installs_alone_and_detects(dist: dict[str, Path], tmp_path: Path) -> None:
    """Fresh venv, cwd outside the checkout: the baseline gets the wheel's own requirements with [tflite]; installing
    the wheel then adds only edge_sdk (and its dist-info and the edge-sdk script), no torch; edge-sdk detects."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"

    requirements = _requirements(dist["wheel"], "tflite")
    assert any(r.startswith("ai-edge-litert") for r in requirements) and not any("torch" in r for r in requirements)
    base = _pip(python, "install", "--quiet", *requirements, cwd=work)
    assert base.returncode == 0, base.stderr[-3000:]
    before = _top_level(python, work)

    done = _pip(python, "install", f"{dist['wheel']}[tflite]", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    installed = re.search(r"Successfully installed (.+)", done.stdout)
    assert installed and installed.group(1).split() == [f"{DISTRIBUTION}-{__version__}"], done.stdout[-2000:]
    assert _top_level(python, work) - before == {"edge_sdk"}

    listing = _pip(python, "list", "--format=json", cwd=work)
    packages = {p["name"].lower(): p["version"] for p in json.loads(listing.stdout)}
    assert packages.get(DISTRIBUTION) == __version__
    assert "torch" not in packages and "ai-edge-litert" in packages, packages

    probe = (
        "import edge_sdk, importlib.util, sys; "
        "print(edge_sdk.__file__); print(edge_sdk.available_backends()); "
        "print([m for m in ('torch', 'training', 'export', 'evaluation', 'benchmarks') "
        "if importlib.util.find_spec(m)])"
    )
    seen = subprocess.run(
        [str(python), "-c", probe], cwd=work, capture_output=True, text=True, check=True, env=_clean_env()
    ).stdout.splitlines()
    assert seen[0].startswith(str(env_dir)) and not seen[0].startswith(str(REPO_ROOT)), seen
    assert seen[1] == "['tflite']" and seen[2] == "[]", seen

    cli = env_dir / "bin" / "edge-sdk"
    version = subprocess.run([str(cli), "--version"], cwd=work, capture_output=True, text=True, env=_clean_env())
    assert version.returncode == 0 and __version__ in version.stdout, version
    shutil.copy(REPO_ROOT / "samples" / "astronaut.png", work / "astronaut.png")
    detect = subprocess.run(
        [str(cli), "detect", "astronaut.png", "--out", "out"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        env=_clean_env(),
    )
    assert detect.returncode == 0, detect.stderr[-3000:]
    result = json.loads((work / "out" / "astronaut_faces.json").read_text())
    assert result["backend"] == "tflite" and (work / "out" / "astronaut_faces.png").stat().st_size > 0
    assert len(result["faces"]) == 1 and result["faces"][0]["score"] > 0.9, result["faces"]
    x1, y1, x2, y2 = result["faces"][0]["box"]
    assert 150 < x1 < x2 < 300 and 30 < y1 < y2 < 210, result["faces"][0]["box"]  # the face, top middle of 512x512
