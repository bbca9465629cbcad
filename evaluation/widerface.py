"""WIDER FACE validation protocol, reproducing the official MATLAB ``eval_tools`` (``wider_eval.m``).

Steps, as in the MATLAB code:

1. ``read_pred.m``: per image, predictions are sorted by descending score (stable, like MATLAB ``sort``).
2. ``norm_score.m``: scores are min-max normalised over *all* predictions of the evaluated images.
3. ``evaluation.m`` / ``image_evaluation``: per image, each prediction in score order is matched to the ground
   truth box of highest overlap (``boxoverlap.m``: inclusive-pixel ``+1`` areas, ground truth ``x2 = x + w``).
   If that overlap is >= 0.5: a face outside the setting's ``gt_list`` (keep list) is *ignored* (the prediction
   is neither TP nor FP); a kept face not yet found becomes a TP; a kept face already found makes the prediction a
   duplicate, i.e. a FP. Images with no ground truth boxes or no predictions are skipped (their kept faces still
   count in the recall denominator).
4. ``image_pr_info`` / ``dataset_pr_info``: precision and recall at 1000 thresholds ``1 - t/1000``; recall is
   divided by all kept faces of the evaluated images.
5. ``VOCap``: AP by the all-point interpolated (envelope) precision.

The one subtle point of the MATLAB code is numeric: ``face_bbx_list`` is stored as ``int32``, and MATLAB computes
``boxoverlap`` on mixed int32/double operands in *int32* (prediction coordinates and the union rounded, the
overlap ratio rounded to 0 or 1). ``iou_mode="matlab"`` (default) emulates that bit for bit: a prediction matches
the *first* ground truth box whose rounded overlap reaches 1, i.e. whose IoU (on rounded coordinates) is >= 0.5.
``iou_mode="float"`` computes the overlap in floating point and matches the best-IoU box, as the popular Python
port does; the two differ only in rare ties and rounding edge cases.

Avoided pitfalls of the popular Python port: predictions are sorted by score; names lose ``.jpg`` with
``removesuffix`` (not ``rstrip('.jpg')``, which strips characters); no ``np.float``.

Image keys are ``"<event>/<name>"`` without extension, e.g. ``"0--Parade/0_Parade_marchingband_1_465"``.
Predictions are (N,5) arrays ``x1, y1, x2, y2, score`` in original image pixels (``x2 = x1 + w`` as in the
official prediction files, which hold ``x y w h score``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

SETTINGS: tuple[str, ...] = ("easy", "medium", "hard")
IOU_THRESHOLD = 0.5
THRESH_NUM = 1000
IouMode = Literal["matlab", "float"]
_INT32_MAX = 2147483647.0
_MATCH_CHUNK = 4_000_000  # predictions x ground truth overlaps computed at once (bounds memory)


# --------------------------------------------------------------------------------------------- ground truth


@dataclass(frozen=True)
class WiderFaceGT:
    """Official WIDER FACE val ground truth.

    ``boxes[key]``: (N,4) float64 ``x, y, w, h`` (``face_bbx_list``, including the dummy ``0 0 0 0`` box of the
    four face-less images and the ``w = -2`` box). ``keep[setting][key]``: 0-based indices of the faces evaluated
    in that setting (``gt_list``). ``image_keys``: all images in the official (event, file) order.
    """

    boxes: Mapping[str, np.ndarray]
    keep: Mapping[str, Mapping[str, np.ndarray]]
    image_keys: tuple[str, ...]
    events: tuple[str, ...] = ()

    @classmethod
    def from_boxes(
        cls,
        boxes: Mapping[str, Any],
        keep: Mapping[str, Mapping[str, Iterable[int]]] | None = None,
    ) -> WiderFaceGT:
        """Build ground truth by hand: ``boxes[key]`` (N,4) xywh; ``keep[setting][key]`` 0-based indices
        (default: every face kept in every setting)."""
        arrays = {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in boxes.items()}
        if keep is None:
            keep = {s: {k: range(len(b)) for k, b in arrays.items()} for s in SETTINGS}
        kept = {s: {k: np.asarray(list(keep.get(s, {}).get(k, ())), dtype=np.int64) for k in arrays} for s in keep}
        for s, per_image in kept.items():
            for k, idx in per_image.items():
                if idx.size and (idx.min() < 0 or idx.max() >= len(arrays[k])):
                    raise ValueError(f"keep[{s!r}][{k!r}] has indices outside 0..{len(arrays[k]) - 1}")
        events = tuple(dict.fromkeys(k.split("/", 1)[0] for k in arrays))
        return cls(boxes=arrays, keep=kept, image_keys=tuple(arrays), events=events)

    @property
    def settings(self) -> tuple[str, ...]:
        return tuple(self.keep)

    def num_faces(self, setting: str, images: Iterable[str] | None = None) -> int:
        """Number of kept faces of ``setting`` in ``images`` (default: all)."""
        per_image = self.keep[setting]
        return int(sum(per_image[k].size for k in (self.image_keys if images is None else images)))


def _ground_truth_dir(root: str | Path) -> Path:
    """Accept the WIDER FACE root (holding ``ground_truth/``) or the ``ground_truth`` folder itself."""
    root = Path(root)
    for candidate in (root, root / "ground_truth", root / "widerface" / "ground_truth"):
        if (candidate / "wider_face_val.mat").is_file():
            return candidate
    raise FileNotFoundError(f"no wider_face_val.mat under {root} (expected <widerface>/ground_truth/)")


def _cell_str(cell: Any) -> str:
    return str(np.asarray(cell).ravel()[0])


def load_widerface_gt(root: str | Path, settings: Iterable[str] = SETTINGS) -> WiderFaceGT:
    """Read ``wider_face_val.mat`` and ``wider_{setting}_val.mat`` (``gt_list``) with scipy.io.loadmat.

    ``root``: the WIDER FACE folder (containing ``ground_truth/``) or ``ground_truth/`` itself.
    """
    from scipy.io import loadmat

    gt_dir = _ground_truth_dir(root)
    face = loadmat(str(gt_dir / "wider_face_val.mat"))
    events = [_cell_str(e) for e in face["event_list"].ravel()]
    boxes: dict[str, np.ndarray] = {}
    order: list[str] = []
    per_event_keys: list[list[str]] = []
    for e, event in enumerate(events):
        files = [_cell_str(f) for f in face["file_list"][e, 0].ravel()]
        bbx = face["face_bbx_list"][e, 0].ravel()
        keys = []
        for j, name in enumerate(files):
            key = f"{event}/{name}"
            boxes[key] = np.asarray(bbx[j], dtype=np.float64).reshape(-1, 4)
            keys.append(key)
        order.extend(keys)
        per_event_keys.append(keys)

    keep: dict[str, dict[str, np.ndarray]] = {}
    for setting in settings:
        mat = loadmat(str(gt_dir / f"wider_{setting}_val.mat"))
        if [_cell_str(e) for e in mat["event_list"].ravel()] != events:
            raise ValueError(f"wider_{setting}_val.mat lists events in another order than wider_face_val.mat")
        per_image: dict[str, np.ndarray] = {}
        for e, keys in enumerate(per_event_keys):
            lists = mat["gt_list"][e, 0].ravel()
            if len(lists) != len(keys):
                raise ValueError(
                    f"wider_{setting}_val.mat: event {events[e]} has {len(lists)} images, expected {len(keys)}"
                )
            for key, idx in zip(keys, lists):
                # gt_list holds 1-based MATLAB indices, stored as uint8/uint16: widen before arithmetic.
                per_image[key] = np.asarray(idx, dtype=np.int64).ravel() - 1
        keep[setting] = per_image
    log.info("WIDER FACE val ground truth: %d images, %d events", len(order), len(events))
    return WiderFaceGT(boxes=boxes, keep=keep, image_keys=tuple(order), events=tuple(events))


@dataclass(frozen=True)
class WiderAnnotation:
    """One image of a ``wider_face_*_bbx_gt.txt`` file.

    ``boxes`` (N,4) int64 ``x, y, w, h`` exactly as written (one val box has ``w = -2``: it is kept, and can never
    overlap anything); ``attributes`` (N,6) int64 ``blur, expression, illumination, invalid, occlusion, pose``.
    Images whose count line is 0 have N = 0 (the file's placeholder ``0 0 0 0 ...`` line is consumed, unlike the
    .mat files, which keep it as a dummy box).
    """

    boxes: np.ndarray
    attributes: np.ndarray


def parse_wider_bbx_gt(path: str | Path) -> dict[str, WiderAnnotation]:
    """Parse an official ``wider_face_{train,val}_bbx_gt.txt``; keys are ``"<event>/<name>"`` without ``.jpg``."""
    lines = Path(path).read_text().splitlines()
    out: dict[str, WiderAnnotation] = {}
    i = 0
    n_lines = len(lines)
    while i < n_lines:
        name = lines[i].strip()
        i += 1
        if not name:
            continue
        if i >= n_lines:
            raise ValueError(f"{path}: {name} has no face count line")
        count = int(lines[i].split()[0])
        i += 1
        rows = []
        # A zero count is followed by one placeholder line of zeros in the official files.
        for _ in range(max(count, 1)):
            if i >= n_lines:
                if count == 0:
                    break
                raise ValueError(f"{path}: {name} announces {count} boxes, file ends early")
            fields = lines[i].split()
            numeric = bool(fields) and all(_is_number(f) for f in fields) and not fields[0].lower().endswith(".jpg")
            if count == 0 and not numeric:
                break  # tolerate files that omit the placeholder line
            i += 1
            if count:
                if len(fields) < 4:
                    raise ValueError(f"{path}:{i}: expected at least 4 numbers, got {lines[i - 1]!r}")
                values = [int(float(f)) for f in fields[:10]]
                values += [0] * (10 - len(values))
                rows.append(values)
        key = name.removesuffix(".jpg")
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 10)
        out[key] = WiderAnnotation(boxes=arr[:, :4].copy(), attributes=arr[:, 4:10].copy())
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def list_widerface_images(root: str | Path, split: str = "val", gt: WiderFaceGT | None = None) -> list[str]:
    """Keys of the images present under ``<root>/WIDER_<split>/images`` (in official order when ``gt`` is given,
    sorted otherwise)."""
    image_dir = Path(root) / f"WIDER_{split}" / "images"
    if not image_dir.is_dir():
        raise FileNotFoundError(f"no image folder {image_dir}")
    present = {f"{p.parent.name}/{p.stem}" for p in image_dir.glob("*/*.jpg")}
    if gt is None:
        return sorted(present)
    return [k for k in gt.image_keys if k in present]


def image_path(root: str | Path, key: str, split: str = "val") -> Path:
    return Path(root) / f"WIDER_{split}" / "images" / f"{key}.jpg"


# ------------------------------------------------------------------------------------------------ protocol


def _round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB double -> int32 conversion rounding (half away from zero), kept in float64."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def box_overlaps(gt_xywh: np.ndarray, pred_xyxy: np.ndarray, iou_mode: IouMode = "matlab") -> np.ndarray:
    """``boxoverlap.m`` of every prediction against every ground truth box: (P, G).

    Ground truth is ``x, y, w, h`` with corners ``x, y, x + w, y + h``; areas count inclusive pixels (``+1``).
    Overlaps whose intersection width or height is <= 0 are 0 (so a ``w = -2`` box never overlaps).
    ``iou_mode="matlab"`` reproduces MATLAB's int32 arithmetic (result 0 or 1, see module docstring).
    """
    gt = np.asarray(gt_xywh, dtype=np.float64).reshape(-1, 4)
    pr = np.asarray(pred_xyxy, dtype=np.float64).reshape(-1, 4)
    if iou_mode == "matlab":
        gt = _round_half_away(gt)
    gx1, gy1 = gt[:, 0], gt[:, 1]
    gx2, gy2 = gx1 + gt[:, 2], gy1 + gt[:, 3]
    px1, py1, px2, py2 = (pr[:, i : i + 1] for i in range(4))
    if iou_mode == "matlab":
        qx1, qy1, qx2, qy2 = (_round_half_away(v) for v in (px1, py1, px2, py2))
    elif iou_mode == "float":
        qx1, qy1, qx2, qy2 = px1, py1, px2, py2
    else:
        raise ValueError(f"iou_mode must be 'matlab' or 'float', got {iou_mode!r}")
    w = np.minimum(gx2, qx2) - np.maximum(gx1, qx1) + 1
    h = np.minimum(gy2, qy2) - np.maximum(gy1, qy1) + 1
    inter = w * h
    aarea = (gx2 - gx1 + 1) * (gy2 - gy1 + 1)
    barea = (px2 - px1 + 1) * (py2 - py1 + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if iou_mode == "matlab":
            union = _round_half_away(aarea + barea) - inter
            o = inter / union
            # int32 division by zero saturates (x/0 -> +-intmax, 0/0 -> 0); NaN only for 0/0.
            o = np.where(union == 0, np.sign(inter) * _INT32_MAX, _round_half_away(o))
        else:
            o = inter / (aarea + barea - inter)
            o = np.nan_to_num(o, nan=0.0, posinf=0.0, neginf=0.0)
    o[(w <= 0) | (h <= 0)] = 0.0
    return o


def _best_matches(gt_xywh: np.ndarray, pred_xyxy: np.ndarray, iou_mode: IouMode) -> tuple[np.ndarray, np.ndarray]:
    """Per prediction: index of the ground truth with the highest overlap (first on ties, like MATLAB ``max``)
    and that overlap."""
    n_pred, n_gt = len(pred_xyxy), len(gt_xywh)
    idx = np.empty(n_pred, dtype=np.int64)
    best = np.empty(n_pred, dtype=np.float64)
    step = max(1, _MATCH_CHUNK // max(n_gt, 1))
    for start in range(0, n_pred, step):
        o = box_overlaps(gt_xywh, pred_xyxy[start : start + step], iou_mode)
        j = np.argmax(o, axis=1)
        idx[start : start + step] = j
        best[start : start + step] = o[np.arange(len(j)), j]
    return idx, best


def image_pr_info(
    match_idx: np.ndarray,
    matched: np.ndarray,
    kept: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """``image_evaluation`` + ``image_pr_info`` of one image for one setting: (T, 2) [proposals, true positives].

    ``match_idx``/``matched``: per score-sorted prediction, its best ground truth and whether the overlap passed;
    ``kept``: per ground truth, in the keep list; ``counts[t]``: predictions with normalised score >= threshold t.
    """
    n = len(match_idx)
    hit_kept = matched & kept[match_idx]
    proposal = ~(matched & ~kept[match_idx])  # predictions on ignored faces are not proposals
    first = np.zeros(n, dtype=bool)
    where = np.flatnonzero(hit_kept)
    if where.size:
        _, first_pos = np.unique(match_idx[where], return_index=True)
        first[where[first_pos]] = True  # a kept face counts once; later hits on it are duplicates (FP)
    cum_prop = np.concatenate([[0], np.cumsum(proposal)])
    cum_tp = np.concatenate([[0], np.cumsum(first)])
    return np.stack([cum_prop[counts], cum_tp[counts]], axis=1).astype(np.float64)


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """``VOCap``: area under the monotone precision envelope, summed where recall changes.

    NaN precisions (no proposal above a threshold) are skipped like MATLAB's ``max`` does.
    """
    mrec = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    mpre = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = np.fmax(mpre[i], mpre[i + 1])
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def sort_predictions(pred: Any) -> np.ndarray:
    """(N,5) float64 copy sorted by descending score, ties kept in input order (MATLAB ``sort(...,'descend')``)."""
    arr = np.asarray(pred if pred is not None else np.zeros((0, 5)), dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 5), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f"predictions must be (N,5) x1,y1,x2,y2,score, got shape {arr.shape}")
    order = np.argsort(-arr[:, 4], kind="stable")
    return arr[order]


def normalize_scores(predictions: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``norm_score.m``: min-max normalise scores over all predictions. Returns new arrays.

    When every score is equal MATLAB divides 0 by 0: all scores become NaN and no prediction passes any threshold
    (AP 0); this is reproduced, with a warning.
    """
    nonempty = [p[:, 4] for p in predictions.values() if len(p)]
    out = {k: p.copy() for k, p in predictions.items()}
    if not nonempty:
        return out
    scores = np.concatenate(nonempty)
    lo, hi = float(scores.min()), float(scores.max())
    if hi == lo:
        log.warning(
            "all %d prediction scores equal %.6g: normalisation divides by zero (as norm_score.m)", scores.size, hi
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        for p in out.values():
            if len(p):
                p[:, 4] = (p[:, 4] - lo) / (hi - lo)
    return out


@dataclass
class WiderFaceResult:
    """AP per setting, PR curves ((T,2) precision, recall at ``thresholds``) and the images evaluated."""

    ap: dict[str, float]
    pr_curves: dict[str, np.ndarray]
    thresholds: np.ndarray
    images: tuple[str, ...]
    num_faces: dict[str, int]
    num_predictions: int
    iou_mode: str
    iou_threshold: float = IOU_THRESHOLD
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, include_curves: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ap": {k: _json_float(v) for k, v in self.ap.items()},
            "iou_mode": self.iou_mode,
            "iou_threshold": self.iou_threshold,
            "num_images": len(self.images),
            "num_faces": dict(self.num_faces),
            "num_predictions": self.num_predictions,
            "images": list(self.images),
        }
        if include_curves:
            d["pr_curves"] = {
                s: {"precision": [_json_float(v) for v in c[:, 0]], "recall": [_json_float(v) for v in c[:, 1]]}
                for s, c in self.pr_curves.items()
            }
            d["thresholds"] = [float(t) for t in self.thresholds]
        d.update(self.extra)
        return d


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def evaluate_widerface(
    predictions: Mapping[str, Any],
    gt: WiderFaceGT | str | Path,
    images: Iterable[str] | None = None,
    *,
    iou_mode: IouMode = "matlab",
    iou_threshold: float = IOU_THRESHOLD,
    thresh_num: int = THRESH_NUM,
) -> WiderFaceResult:
    """Score predictions by the official WIDER FACE val protocol.

    Args:
        predictions: ``key -> (N,5) x1, y1, x2, y2, score`` (any order; an absent key or an empty array means
            no predictions for that image).
        gt: ground truth, or the folder to load it from (see :func:`load_widerface_gt`).
        images: the images evaluated (keys). Default: the keys of ``predictions``. Recall is divided by the kept
            faces of exactly these images, so a subset is scored honestly.
        iou_mode: "matlab" (bit-exact MATLAB int32 overlap, default) or "float" (best float IoU).
    """
    if not isinstance(gt, WiderFaceGT):
        gt = load_widerface_gt(gt)
    keys = list(dict.fromkeys(predictions if images is None else images))
    unknown = [k for k in keys if k not in gt.boxes]
    if unknown:
        raise ValueError(
            f"{len(unknown)} image keys not in the ground truth, e.g. {unknown[:3]} "
            "(keys are '<event>/<name>' without .jpg)"
        )
    key_set = set(keys)
    extra = [k for k in predictions if k not in key_set] if images is not None else []
    if extra:
        log.info("%d predicted images are outside the evaluated image list and are ignored", len(extra))

    sorted_preds = {k: sort_predictions(predictions.get(k)) for k in keys}
    norm = normalize_scores(sorted_preds)
    thresholds = 1.0 - np.arange(1, thresh_num + 1, dtype=np.float64) / thresh_num
    settings = gt.settings
    org = {s: np.zeros((thresh_num, 2), dtype=np.float64) for s in settings}
    count_face = {s: 0 for s in settings}

    for key in keys:
        gt_boxes = gt.boxes[key]
        pred = norm[key]
        for s in settings:
            count_face[s] += int(gt.keep[s][key].size)
        if gt_boxes.size == 0 or pred.size == 0:
            continue
        match_idx, best = _best_matches(gt_boxes, pred[:, :4], iou_mode)
        matched = best >= iou_threshold
        # Predictions are sorted: "last index with score >= t" is the count of scores >= t (NaN never passes).
        scores = np.nan_to_num(pred[:, 4], nan=-np.inf)
        counts = np.searchsorted(-scores, -thresholds, side="right")
        for s in settings:
            kept = np.zeros(len(gt_boxes), dtype=bool)
            kept[gt.keep[s][key]] = True
            org[s] += image_pr_info(match_idx, matched, kept, counts)

    pr_curves: dict[str, np.ndarray] = {}
    ap: dict[str, float] = {}
    for s in settings:
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = org[s][:, 1] / org[s][:, 0]
            recall = org[s][:, 1] / count_face[s] if count_face[s] else np.full(thresh_num, np.nan)
        pr_curves[s] = np.stack([precision, recall], axis=1)
        ap[s] = voc_ap(recall, precision) if count_face[s] else float("nan")
    return WiderFaceResult(
        ap=ap,
        pr_curves=pr_curves,
        thresholds=thresholds,
        images=tuple(keys),
        num_faces=count_face,
        num_predictions=int(sum(len(p) for p in sorted_preds.values())),
        iou_mode=iou_mode,
        iou_threshold=iou_threshold,
    )
