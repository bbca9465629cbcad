"""Sections of a docs page that separate benchmarks own (GPU check, tracking, cold start): each lives between
``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers, is rewritten by its benchmark's ``--doc``, and is rendered
again from its saved JSON (``docs/benchmarks/NAME.json``) when ``python -m benchmarks`` regenerates the page."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

#: section name → module with ``render_markdown(result: dict) -> str``
SECTIONS = {
    "gpu-check": "benchmarks.gpu_check",
    "tracking": "benchmarks.tracking",
    "cold-start": "benchmarks.cold_start",
    "stream-memory": "benchmarks.memory",
    "auto-pick": "benchmarks.auto_pick",
    "letterbox-resize": "benchmarks.letterbox_resize",
    "frame-overhead": "benchmarks.frame_overhead",
    "openvino-graph": "benchmarks.openvino_graph",
}


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def splice(doc: Path, name: str, section: str) -> None:
    """Replace the text between the section's markers in ``doc``."""
    start_marker, end_marker = markers(name)
    text = doc.read_text()
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"{doc} has no {start_marker} … {end_marker} block")
    doc.write_text(text[: start + len(start_marker)] + "\n" + section + text[end:])


def saved_json(doc: Path, name: str) -> Path:
    return Path(doc).parent / "benchmarks" / f"{name.replace('-', '_')}.json"


def block(doc: Path, name: str, missing: str) -> str:
    """The section with its markers, rendered from its saved JSON beside ``doc`` (``missing`` when there is none)."""
    start_marker, end_marker = markers(name)
    saved = saved_json(doc, name)
    if saved.is_file():
        body = importlib.import_module(SECTIONS[name]).render_markdown(json.loads(saved.read_text()))
    else:
        body = missing + "\n"
    return f"{start_marker}\n{body}{end_marker}"


def publish(doc: Path, name: str, result: dict, section: str) -> None:
    """Save ``result`` beside ``doc`` (what a page regeneration renders again) and splice ``section`` into it."""
    saved = saved_json(doc, name)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=2) + "\n")
    splice(doc, name, section)


def save_and_publish(name: str, result: dict, out: Path, doc: Path | None) -> str:
    """How a section's benchmark CLI ends: ``result`` saved as ``out/<name>.json``, rendered by its module, spliced
    into ``doc`` (its JSON saved beside it) when one is given. Returns the section."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name.replace('-', '_')}.json").write_text(json.dumps(result, indent=2) + "\n")
    section = importlib.import_module(SECTIONS[name]).render_markdown(result)
    if doc:
        publish(doc, name, result, section)
    return section
