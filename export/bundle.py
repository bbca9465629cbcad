"""Copy the files of one precision (e.g. the int8 files of a QAT run) from one model directory into another's model,
with their manifest entries. Both must describe the same model (exported from the same checkpoint)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edge_sdk.manifest import ModelFile, load_manifest


def bundle(source_dir: Path, target_dir: Path, precision: str = "int8") -> list[str]:
    """Copy the ``precision`` files of ``source_dir`` into ``target_dir`` and add them to its manifest; returns their
    paths. The bytes copied are the ones checked against the source manifest's sha256."""
    source, target = load_manifest(source_dir), load_manifest(target_dir)
    if source.source.get("checkpoint_sha256") != target.source.get("checkpoint_sha256"):
        raise ValueError("the two model directories come from different checkpoints")
    chosen = [f for f in source.files if f.precision == precision]
    if not chosen:
        raise ValueError(f"{source_dir} has no {precision} files")
    copied = [_copy(f, Path(source_dir), Path(target_dir)) for f in chosen]
    target.add_files(copied).write()
    return sorted(f.path.relative_to(target_dir).as_posix() for f in copied)


def _copy(model_file: ModelFile, source_dir: Path, target_dir: Path) -> ModelFile:
    data = model_file.read_verified()
    moved = [target_dir / p.relative_to(source_dir) for p in (model_file.path, *model_file.extra_files)]
    for path, content in zip(moved, (data.content, *data.extra_content)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return dataclasses.replace(model_file, path=moved[0], extra_files=tuple(moved[1:]), directory=target_dir)
