"""Prediction files in the official formats, so results can be scored by other tools too.

WIDER FACE (``wider_eval.m`` / ``read_pred.m``): one text file per image, ``<dir>/<event>/<name>.txt``::

    <name>
    <count>
    x y w h score        (count lines, original image pixels)

FDDB (``evaluate -f 0``): one file per fold, ``<dir>/fold-XX-out.txt``, images in fold order::

    <yyyy/mm/dd/big/img_N>
    <count>
    left top width height score

In memory, predictions are ``key -> (N,5) x1, y1, x2, y2, score`` float64 arrays. Numbers are written with
Python's shortest round-trip ``repr``, so reading a file back gives exactly ``x, y, w, h, score``; readers rebuild
``x2 = x + w`` as the official tools do.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def _fmt(v: float) -> str:
    v = float(v)
    if np.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _rows(pred: np.ndarray) -> list[str]:
    arr = np.asarray(pred, dtype=np.float64).reshape(-1, 5)
    lines = []
    for x1, y1, x2, y2, s in arr:
        lines.append(" ".join(_fmt(v) for v in (x1, y1, x2 - x1, y2 - y1, s)))
    return lines


def _parse_rows(lines: list[str], count: int, where: str) -> np.ndarray:
    if len(lines) < count:
        raise ValueError(f"{where}: announces {count} boxes but has {len(lines)} box lines")
    out = np.zeros((count, 5), dtype=np.float64)
    for i in range(count):
        fields = lines[i].split()
        if len(fields) < 5:
            raise ValueError(f"{where}: box line {i + 1} needs 'x y w h score', got {lines[i]!r}")
        x, y, w, h, s = (float(f) for f in fields[:5])
        out[i] = (x, y, x + w, y + h, s)
    return out


def write_widerface_predictions(predictions: Mapping[str, np.ndarray], out_dir: str | Path) -> list[Path]:
    """Write ``<out_dir>/<event>/<name>.txt`` for every key (empty arrays give a count of 0)."""
    out_dir = Path(out_dir)
    written = []
    for key, pred in predictions.items():
        event, name = key.split("/", 1)
        path = out_dir / event / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = _rows(pred)
        path.write_text("\n".join([name, str(len(rows)), *rows]) + "\n")
        written.append(path)
    log.info("wrote %d WIDER FACE prediction files under %s", len(written), out_dir)
    return written


def read_widerface_prediction_file(path: str | Path) -> np.ndarray:
    """One official prediction file → (N,5) x1, y1, x2, y2, score (in file order; ``read_pred.m`` semantics:
    line 1 is the name, line 2 the count, extra lines beyond the count are ignored)."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines()]
    lines = [ln for ln in lines if ln]
    if len(lines) < 2:
        raise ValueError(f"{path}: expected a name line and a count line")
    count = int(float(lines[1]))
    return _parse_rows(lines[2:], count, str(path))


def read_widerface_predictions(pred_dir: str | Path, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Read ``<pred_dir>/<event>/<name>.txt`` files → ``key -> (N,5)``.

    ``keys``: read only these images; a missing file is an image without predictions (as in ``read_pred.m``,
    which reports it). Default: every ``*.txt`` found.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"no prediction folder {pred_dir}")
    out: dict[str, np.ndarray] = {}
    if keys is None:
        for path in sorted(pred_dir.glob("*/*.txt")):
            out[f"{path.parent.name}/{path.stem}"] = read_widerface_prediction_file(path)
        return out
    missing = 0
    for key in keys:
        path = pred_dir / f"{key}.txt"
        if path.is_file():
            out[key] = read_widerface_prediction_file(path)
        else:
            missing += 1
            out[key] = np.zeros((0, 5), dtype=np.float64)
    if missing:
        log.warning("%d images have no prediction file under %s (scored as no predictions)", missing, pred_dir)
    return out


def write_fddb_predictions(
    predictions: Mapping[str, np.ndarray],
    folds: Mapping[str, int],
    out_dir: str | Path,
    order: Iterable[str] | None = None,
) -> list[Path]:
    """Write ``<out_dir>/fold-XX-out.txt`` (rectangles, ``-f 0``) for the predicted images of each fold.

    ``folds``: image key → fold number; ``order``: key order within the files (default: ``folds`` order).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    by_fold: dict[int, list[str]] = {}
    for key in order if order is not None else folds:
        if key in predictions:
            by_fold.setdefault(int(folds[key]), []).append(key)
    written = []
    for fold, keys in sorted(by_fold.items()):
        lines: list[str] = []
        for key in keys:
            rows = _rows(predictions[key])
            lines += [key, str(len(rows)), *rows]
        path = out_dir / f"fold-{fold:02d}-out.txt"
        path.write_text("\n".join(lines) + "\n")
        written.append(path)
    log.info("wrote %d FDDB fold files under %s", len(written), out_dir)
    return written


def read_fddb_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Read one FDDB detection file, or every ``fold-*-out.txt`` of a folder → ``key -> (N,5)``."""
    path = Path(path)
    files = sorted(path.glob("fold-*-out.txt")) if path.is_dir() else [path]
    out: dict[str, np.ndarray] = {}
    for file in files:
        lines = [ln.strip() for ln in file.read_text().splitlines()]
        lines = [ln for ln in lines if ln]
        i = 0
        while i < len(lines):
            key = lines[i].removesuffix(".jpg")
            if i + 1 >= len(lines):
                raise ValueError(f"{file}: {key} has no count line")
            count = int(float(lines[i + 1]))
            out[key] = _parse_rows(lines[i + 2 : i + 2 + count], count, f"{file}:{key}")
            i += 2 + count
    return out
