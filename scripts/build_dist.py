"""Build the sdist and the wheel the way a release does, from a clean copy of the source tree.

    python scripts/build_dist.py --out dist            # sdist, then the wheel built from that sdist
    python scripts/build_dist.py --out dist --compare  # also a wheel straight from the tree; fail unless identical

The copy holds exactly what git would commit (tracked files plus untracked, not ignored ones), so stale ``build/``
folders, egg-info or local outputs of this checkout can never leak into the artifacts. Builds are isolated
(``python -m build``: a fresh venv with the build-system requirements from the package index or the pip cache).
Needs the ``build`` package (extra ``[dev]``) and git.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def source_files(repo: Path = REPO_ROOT) -> list[str]:
    """Paths (relative to ``repo``) that git tracks or would track: what a fresh clone of a commit holds."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [p for p in listing.split("\0") if p and (repo / p).is_file()]


def copy_source(dest: Path, repo: Path = REPO_ROOT) -> Path:
    """Copy the source tree (see :func:`source_files`) into ``dest`` and return it."""
    for rel in source_files(repo):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / rel, target)
    return dest


def run_build(source: Path, outdir: Path, kind: str) -> Path:
    """``python -m build --<kind>`` of a source directory or sdist; returns the one artifact it wrote."""
    outdir.mkdir(parents=True, exist_ok=True)
    before = set(outdir.iterdir())
    done = subprocess.run(
        [sys.executable, "-m", "build", f"--{kind}", "--outdir", str(outdir), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m build --{kind} {source} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    new = sorted(set(outdir.iterdir()) - before)
    if len(new) != 1:
        raise RuntimeError(f"expected one new artifact in {outdir}, got {new}")
    return new[0]


def wheel_record(wheel: Path) -> dict[str, str]:
    """File name → sha256 of every file in a wheel, from its contents (RECORD itself excluded)."""
    files: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.endswith(".dist-info/RECORD"):
                continue
            digest = hashlib.sha256(archive.read(name)).digest()
            files[name] = "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record = next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        listed = {row[0]: row[1] for row in csv.reader(io.StringIO(archive.read(record).decode())) if row}
    bad = [n for n, h in files.items() if listed.get(n) != h]
    if bad:
        raise RuntimeError(f"{wheel.name}: RECORD does not match the contents of {bad}")
    return files


def build_all(out: Path, compare: bool = False, repo: Path = REPO_ROOT) -> dict[str, Path]:
    """Build the sdist and the wheel from it into ``out`` (and, with ``compare``, a wheel straight from the tree
    into ``out/direct``, which must hold the same files with the same hashes)."""
    with tempfile.TemporaryDirectory(prefix="edge-face-sdk-src-") as tmp:
        source = copy_source(Path(tmp) / "src", repo)
        sdist = run_build(source, out, "sdist")
        wheel = run_build(sdist, out, "wheel")
        artifacts = {"sdist": sdist, "wheel": wheel}
        if compare:
            direct = run_build(source, out / "direct", "wheel")
            ours, theirs = wheel_record(wheel), wheel_record(direct)
            if ours != theirs:
                diff = sorted(set(ours.items()) ^ set(theirs.items()))
                raise RuntimeError(f"the wheel built from the sdist differs from the one built from the tree: {diff}")
            artifacts["direct_wheel"] = direct
    return artifacts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also build a wheel straight from the tree and require the same files and hashes",
    )
    args = parser.parse_args(argv)
    artifacts = build_all(args.out.resolve(), compare=args.compare)
    for kind, path in artifacts.items():
        print(f"{kind}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
