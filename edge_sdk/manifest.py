"""The model manifest: the contract between the export module and the runtime.

A model directory holds ``manifest.json`` plus one or more model files (formats x precisions x input shapes).
Every file is listed with its sha256, verified before a backend ever sees the bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ModelLoadError
from .preprocess import Normalization
from .priors import AnchorConfig

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
OUTPUT_ROLES = ("boxes", "scores", "landmarks")


@dataclass(frozen=True)
class ModelFile:
    """One runnable file of a model: ``input_size`` is (width, height), or None for a dynamic-shape model."""

    path: Path
    format: str
    precision: str
    input_size: tuple[int, int] | None
    sha256: str
    extra_files: tuple[Path, ...] = ()
    extra_sha256: tuple[str | None, ...] = ()  # per extra file (e.g. OpenVINO's .bin weights), None if not recorded

    @property
    def dynamic(self) -> bool:
        return self.input_size is None

    def verify(self) -> None:
        """Raise :class:`ModelLoadError` unless the file exists and matches its recorded checksum."""
        for path in (self.path, *self.extra_files):
            if not path.is_file():
                raise ModelLoadError(f"model file {path} listed in the manifest is missing")
        for path, expected in ((self.path, self.sha256), *zip(self.extra_files, self.extra_sha256)):
            if expected is None:
                continue
            actual = sha256_of(path)
            if actual != expected:
                raise ModelLoadError(
                    f"checksum mismatch for {path.name}: manifest says {expected[:12]}…, file is {actual[:12]}…; "
                    "the file is corrupt or was replaced. Re-export it or restore the original."
                )


@dataclass(frozen=True)
class Manifest:
    name: str
    directory: Path
    normalization: Normalization
    anchors: AnchorConfig
    output_names: dict[str, str]
    score_activation: str
    landmark_order: tuple[str, ...]
    files: tuple[ModelFile, ...]
    raw: dict[str, Any]

    def find_file(self, path: Path) -> ModelFile | None:
        resolved = path.resolve()
        return next((f for f in self.files if f.path.resolve() == resolved), None)

    def select(self, formats: tuple[str, ...], precision: str, input_size: tuple[int, int] | None) -> ModelFile | None:
        """The best file for a backend: an exact fixed-size match first, else a dynamic-shape file."""
        candidates = [f for f in self.files if f.format in formats and f.precision == precision]
        exact = [f for f in candidates if f.input_size is not None and f.input_size == input_size]
        dynamic = [f for f in candidates if f.dynamic]
        return (exact or dynamic or [None])[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_manifest(directory: Path) -> Manifest:
    """Read and validate ``directory/manifest.json`` (no file checksums yet: see :meth:`ModelFile.verify`)."""
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise ModelLoadError(
            f"no {MANIFEST_NAME} in {directory}: a model needs its manifest (write one with `python -m export`)"
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    try:
        return _parse(raw, Path(directory))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelLoadError(f"{path} is malformed ({type(exc).__name__}: {exc})") from exc


def _parse(raw: dict[str, Any], directory: Path) -> Manifest:
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {raw.get('schema_version')!r} (expected {SCHEMA_VERSION})")
    inp = raw["input"]
    norm = Normalization(
        channel_order=inp["channel_order"],
        mean=tuple(float(v) for v in inp["mean"]),
        std=tuple(float(v) for v in inp["std"]),
    )
    outputs = raw["outputs"]
    output_names = {role: str(outputs["names"][role]) for role in OUTPUT_ROLES}
    for entry in raw["files"]:
        for relative in (entry["path"], *entry.get("extra_files", [])):
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                raise ValueError(f"file path {relative!r} must stay inside the model directory")
    files = tuple(
        ModelFile(
            path=directory / entry["path"],
            format=str(entry["format"]),
            precision=str(entry["precision"]),
            input_size=None if entry["input_size"] is None else (int(entry["input_size"][0]), int(entry["input_size"][1])),
            sha256=str(entry["sha256"]),
            extra_files=tuple(directory / p for p in entry.get("extra_files", [])),
            extra_sha256=tuple(entry.get("extra_sha256", {}).get(p) for p in entry.get("extra_files", [])),
        )
        for entry in raw["files"]
    )
    if not files:
        raise ValueError("the manifest lists no model files")
    return Manifest(
        name=str(raw["name"]),
        directory=directory,
        normalization=norm,
        anchors=AnchorConfig.from_dict(raw["anchors"]),
        output_names=output_names,
        score_activation=str(outputs.get("score_activation", "softmax")),
        landmark_order=tuple(raw["landmark_order"]),
        files=files,
        raw=raw,
    )
