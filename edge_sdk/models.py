"""Where model directories are found: bundled models by name, or a user's directory / file."""

from __future__ import annotations

from pathlib import Path

from .errors import ModelLoadError
from .manifest import MANIFEST_NAME

BUNDLED_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "retinaface_mnet025"


def bundled_models() -> list[str]:
    """Names of the models shipped inside the package."""
    return sorted(p.parent.name for p in BUNDLED_DIR.glob(f"*/{MANIFEST_NAME}"))


def resolve_model(model: str | Path | None) -> tuple[Path, Path | None]:
    """Map the ``model`` argument to ``(model directory, specific file or None)``.

    ``None`` is the bundled default; a bare name is a bundled model; a directory must hold a manifest; a file
    must sit beside the manifest that lists it.
    """
    if model is None:
        model = DEFAULT_MODEL
    if isinstance(model, str) and (BUNDLED_DIR / model / MANIFEST_NAME).is_file():
        return BUNDLED_DIR / model, None
    path = Path(model)
    if path.is_dir():
        return path, None
    if path.is_file():
        return path.parent, path
    raise ModelLoadError(
        f"model {str(model)!r} not found: give a bundled model name "
        f"({', '.join(bundled_models()) or 'none installed'}), "
        "a model directory with a manifest.json, or a model file beside its manifest"
    )
