"""Checkpoint files: model weights + the config and preprocessing contract needed to rebuild and export them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig
from .model import RetinaFace

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "retinaface_mnet025.pt"


def save_checkpoint(
    path: Path, model: RetinaFace, normalization: dict[str, Any], provenance: dict[str, Any], **extra: Any
) -> None:
    """Write a checkpoint. ``normalization`` = {channel_order, mean, std}; ``provenance`` says where weights came
    from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "format": "edge_sdk.retinaface/1",
            "config": model.config.to_dict(),
            "normalization": normalization,
            "provenance": provenance,
            "model": model.state_dict(),
            **extra,
        },
        path,
    )


def load_checkpoint(path: Path = DEFAULT_CHECKPOINT) -> tuple[RetinaFace, dict[str, Any]]:
    """Rebuild the model (eval mode) and return it with the checkpoint's metadata. Never unpickles code."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    model = RetinaFace(ModelConfig.from_dict(data["config"]))
    model.load_state_dict(data["model"], strict=True)
    model.eval()
    meta = {k: v for k, v in data.items() if k != "model"}
    return model, meta
