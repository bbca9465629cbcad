"""Writes manifest.json: the contract the runtime reads (see edge_sdk.manifest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_sdk.detections import LANDMARK_NAMES
from edge_sdk.manifest import MANIFEST_NAME, SCHEMA_VERSION, sha256_of

from .onnx_export import INPUT_NAME, OUTPUT_NAMES


def file_entry(directory: Path, path: Path, fmt: str, precision: str, input_size: tuple[int, int] | None,
               extra_files: tuple[Path, ...] = (), **details: Any) -> dict[str, Any]:
    if extra_files:  # multi-file formats (OpenVINO .xml + .bin): every file's checksum is verified at load
        details = {"extra_sha256": {p.relative_to(directory).as_posix(): sha256_of(p) for p in extra_files}, **details}
    return {
        "path": path.relative_to(directory).as_posix(),
        "format": fmt,
        "precision": precision,
        "input_size": None if input_size is None else list(input_size),
        "sha256": sha256_of(path),
        "bytes": path.stat().st_size + sum(p.stat().st_size for p in extra_files),
        "extra_files": [p.relative_to(directory).as_posix() for p in extra_files],
        **details,
    }


def write_manifest(directory: Path, name: str, meta: dict[str, Any], checkpoint: Path, files: list[dict[str, Any]],
                   produced_by: dict[str, Any]) -> Path:
    """Write (or update) ``directory/manifest.json``. Entries of an existing manifest whose files still exist and
    are not re-exported now are kept, so formats/precisions can be added in separate runs."""
    path = directory / MANIFEST_NAME
    kept: list[dict[str, Any]] = []
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        new_paths = {f["path"] for f in files}
        kept = [f for f in previous.get("files", []) if f["path"] not in new_paths and (directory / f["path"]).is_file()]
    config = meta["config"]
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "description": "RetinaFace face detector (MobileNetV1-0.25 backbone, FPN, SSH); raw heads, decode in the runtime",
        "architecture": {k: v for k, v in config.items() if k != "anchors"},
        "input": {
            "name": INPUT_NAME,
            "layout": "NCHW",
            "channel_order": meta["normalization"]["channel_order"],
            "mean": meta["normalization"]["mean"],
            "std": meta["normalization"]["std"],
            "letterbox": "keep aspect, image top-left, pad right/bottom with the mean (0 after normalization)",
        },
        "anchors": config["anchors"],
        "outputs": {
            "names": dict(zip(("boxes", "scores", "landmarks"), OUTPUT_NAMES)),
            "score_activation": "softmax",
            "layout": "boxes (N,P,4) dx,dy,dw,dh; scores (N,P,2) background,face; landmarks (N,P,10) x,y per point; N = batch",
        },
        "landmark_order": list(LANDMARK_NAMES),
        "source": {
            "checkpoint": checkpoint.name,
            "checkpoint_sha256": sha256_of(checkpoint),
            **meta.get("provenance", {}),
        },
        "license": meta.get("provenance", {}).get("license", "unknown"),
        "produced_by": produced_by,
        "files": sorted(kept + files, key=lambda f: (f["format"], f["precision"], f["path"])),
    }
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path
