"""The manifest of an export run, built with the runtime's typed :class:`edge_sdk.manifest.Manifest` (which owns the
format, the validation and the writing): the contract constants come from the checkpoint, the files from the
writers."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge_sdk.detections import LANDMARK_NAMES
from edge_sdk.errors import ModelLoadError
from edge_sdk.manifest import MANIFEST_NAME, Manifest, ModelFile, load_manifest, sha256_of
from edge_sdk.preprocess import Normalization
from edge_sdk.priors import AnchorConfig

from .onnx_export import INPUT_NAME, OUTPUT_NAMES

DESCRIPTION = "RetinaFace face detector (MobileNetV1-0.25 backbone, FPN, SSH); raw heads, decode in the runtime"


def checkpoint_manifest(
    directory: Path, name: str, meta: dict[str, Any], checkpoint: Path, produced_by: dict[str, Any]
) -> Manifest:
    """A manifest without files yet for a model exported from ``checkpoint`` (``meta``: its metadata, as
    ``training.checkpoint.load_checkpoint`` returns it)."""
    config = meta["config"]
    normalization = meta["normalization"]
    provenance = meta.get("provenance", {})
    return Manifest(
        name=name,
        directory=Path(directory),
        normalization=Normalization(
            normalization["channel_order"], tuple(normalization["mean"]), tuple(normalization["std"])
        ),
        anchors=AnchorConfig.from_dict(config["anchors"]),
        output_names=dict(zip(("boxes", "scores", "landmarks"), OUTPUT_NAMES)),
        score_activation="softmax",  # the inference model ends with the softmax (training.model.InferenceModel)
        landmark_order=tuple(LANDMARK_NAMES),
        files=(),
        num_classes=int(config.get("num_classes", 2)),
        input_name=INPUT_NAME,
        description=DESCRIPTION,
        architecture={k: v for k, v in config.items() if k not in ("anchors", "num_classes")},
        source={"checkpoint": checkpoint.name, "checkpoint_sha256": sha256_of(checkpoint), **provenance},
        license=provenance.get("license", "unknown"),
        produced_by=produced_by,
    )


def write_export_manifest(base: Manifest, files: Iterable[ModelFile]) -> Manifest:
    """Write ``base`` with ``files`` into its directory. Entries of an existing manifest there whose files still exist
    and are not re-exported now are kept, so formats/precisions can be added in separate runs."""
    kept: tuple[ModelFile, ...] = ()
    if (base.directory / MANIFEST_NAME).is_file():
        kept = tuple(
            f for f in load_manifest(base.directory).files if all(p.is_file() for p in (f.path, *f.extra_files))
        )
    manifest = base.add_files(kept).add_files(files)
    manifest.write()
    return manifest


def add_files(directory: Path, files: Iterable[ModelFile], checkpoint: Path | None = None) -> Manifest:
    """Add ``files`` (written into ``directory`` by a later run, e.g. int8) to its manifest. With ``checkpoint``, the
    manifest must describe a model exported from that checkpoint."""
    manifest = load_manifest(directory)
    if checkpoint is not None:
        expected = manifest.source.get("checkpoint_sha256")
        if expected != sha256_of(checkpoint):
            raise ModelLoadError(
                f"{directory} holds a model exported from another checkpoint than {checkpoint} "
                f"(source.checkpoint_sha256 {str(expected)[:12]}…)"
            )
    manifest = manifest.add_files(files)
    manifest.write()
    return manifest
