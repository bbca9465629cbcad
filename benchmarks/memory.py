"""Process-level peak memory: each configuration loaded and run in a fresh Python process of its own, whose peak
resident set (``VmHWM``) is what a deployment running only that detector needs. In-process figures (RSS growth at
load, working-set peak during calls) are kept too, but a shared process blurs them: a runtime library loaded by one
detector is free for the next."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .subjects import SkipSubject, SubjectSpec, build_subject
from .system import peak_rss_mb, rss_mb

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKER = "_memory"  # hidden CLI subcommand


def worker(spec: SubjectSpec, image_paths: Sequence[Path], calls: int = 2) -> dict[str, Any]:
    """Runs inside the fresh process: load one subject, run it ``calls`` times on each image, report memory (MB)."""
    from .latency import read_images

    images = read_images(image_paths)
    baseline = rss_mb()
    try:
        subject = build_subject(spec)
    except SkipSubject as exc:
        return {"error": str(exc)}
    loaded = rss_mb()
    subject.activate()
    for _ in range(calls):
        for image in images:
            subject.detect(image)
    return {"baseline_mb": baseline, "loaded_mb": loaded, "process_peak_mb": peak_rss_mb()}


def isolated(spec: SubjectSpec, image_paths: Sequence[Path], timeout: float = 300.0) -> dict[str, Any]:
    """Run :func:`worker` in a new interpreter; ``{"error": ...}`` instead of raising when it fails."""
    command = [sys.executable, "-m", "benchmarks", WORKER, "--spec", json.dumps(spec.to_dict()),
               *[str(p) for p in image_paths]]
    try:
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    result = json.loads(lines[-1])
    return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items()}


def memory_specs(specs: Sequence[SubjectSpec]) -> dict[str, SubjectSpec]:
    """One spec per configuration ignoring threads (the most threads of each): memory hardly depends on them."""
    chosen: dict[str, SubjectSpec] = {}
    for spec in specs:
        group = spec.key.rsplit("/", 1)[0]
        if group not in chosen or (spec.threads or 0) > (chosen[group].threads or 0):
            chosen[group] = spec
    return chosen
