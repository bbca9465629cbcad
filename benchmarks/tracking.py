"""Tracking benchmark: identity switches, fragmentation and blur coverage of ``FaceDetector.track`` on a clip whose
ground truth is known exactly, and the tracker's cost per frame next to the detector's.

The clip: a virtual camera (pan, zoom, hand-held jitter) moving over a real WIDER FACE val crowd photo, with an
occluding bar sweeping across the faces half-way through — consecutive frames of real faces whose identities and
boxes follow exactly from the official annotations (each frame's ground truth is the annotated boxes under the
camera's transform; a face more than half outside the frame or under the bar is not visible in that frame).

Counted per the CLEAR-MOT conventions, matching reported faces to visible ground truth at IoU >= 0.5 each frame:
an *ID switch* is a ground-truth face matched to a different track id than at its previous match; a *fragmentation*
is a ground-truth face whose matching stops and resumes while it stays visible. Compared with a baseline that links
each face to the previous frame's only (IoU, no motion model, no memory), the way users roll their own.

    python -m benchmarks.tracking --data-root ../shared/data --out out/tracking [--doc docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_sdk import FaceDetector
from edge_sdk.detections import NO_TRACK, Detections
from edge_sdk.tracking import FaceTracker, TrackerConfig, _iou_matrix

from .doc_sections import save_and_publish

CLIP_IMAGE = "12--Group/12_Group_Group_12_Group_Group_12_10"  # 13 faces, all found by the detector in the photo


@dataclass(frozen=True)
class ClipSpec:
    frames: int = 120
    width: int = 640
    height: int = 480
    occluder_frames: tuple[int, int] = (45, 75)  # the bar sweeps across the frame in these frames
    seed: int = 0


@dataclass
class Clip:
    frames: list[np.ndarray]
    truth: list[dict[int, np.ndarray]]  # per frame: ground-truth face id -> visible box (xyxy, frame pixels)


def make_clip(image: np.ndarray, boxes_xyxy: np.ndarray, spec: ClipSpec = ClipSpec()) -> Clip:
    """Frames of a camera moving over ``image`` and the exact per-frame ground truth of its annotated faces."""
    rng = np.random.default_rng(spec.seed)
    h, w = image.shape[:2]
    aspect = spec.width / spec.height
    frames, truth = [], []
    jitter = rng.normal(0, 2.0, size=(spec.frames, 2)).cumsum(axis=0) * 0.3
    for k in range(spec.frames):
        t = k / max(spec.frames - 1, 1)
        crop_w = w * (0.85 - 0.25 * np.sin(np.pi * t))  # zoom in, then back out
        crop_h = min(crop_w / aspect, h)
        crop_w = crop_h * aspect
        cx = crop_w / 2 + (w - crop_w) * (0.5 + 0.5 * np.sin(2 * np.pi * t)) + jitter[k, 0]
        cy = crop_h / 2 + (h - crop_h) * 0.5 + jitter[k, 1]
        cx, cy = float(np.clip(cx, crop_w / 2, w - crop_w / 2)), float(np.clip(cy, crop_h / 2, h - crop_h / 2))
        scale = spec.width / crop_w
        matrix = np.array([[scale, 0, spec.width / 2 - cx * scale], [0, scale, spec.height / 2 - cy * scale]])
        frame = cv2.warpAffine(image, matrix, (spec.width, spec.height), flags=cv2.INTER_LINEAR)
        mapped = boxes_xyxy * scale + np.tile(matrix[:, 2], 2)
        visible = _visible_fraction(mapped, spec.width, spec.height)
        bar = _occluder(k, spec)
        if bar is not None:
            x1, x2 = bar
            frame[:, x1:x2] = 96
            covered = np.clip(np.minimum(mapped[:, 2], x2) - np.maximum(mapped[:, 0], x1), 0, None)
            visible = visible * (1 - covered / np.maximum(mapped[:, 2] - mapped[:, 0], 1e-9))
        frames.append(frame)
        truth.append({i: mapped[i] for i in range(len(mapped)) if visible[i] > 0.5})
    return Clip(frames, truth)


def _visible_fraction(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    inside_w = np.clip(np.minimum(boxes[:, 2], width) - np.maximum(boxes[:, 0], 0), 0, None)
    inside_h = np.clip(np.minimum(boxes[:, 3], height) - np.maximum(boxes[:, 1], 0), 0, None)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    return inside_w * inside_h / area


def _occluder(k: int, spec: ClipSpec) -> tuple[int, int] | None:
    first, last = spec.occluder_frames
    if not first <= k <= last:
        return None
    centre = int(spec.width * (k - first) / max(last - first, 1))
    return max(0, centre - 60), min(spec.width, centre + 60)


@dataclass
class TrackScore:
    visible: int = 0  # ground-truth face-frames
    matched: int = 0
    id_switches: int = 0
    fragmentations: int = 0
    ids_per_face: float = 0.0  # distinct track ids a ground-truth face was given, averaged
    covered: int = 0  # visible face-frames overlapped (IoU >= 0.3) by any reported box: what a privacy blur hides

    @property
    def recall(self) -> float:
        return self.matched / max(self.visible, 1)

    @property
    def coverage(self) -> float:
        return self.covered / max(self.visible, 1)


def score_tracks(truth: list[dict[int, np.ndarray]], reported: list[Detections]) -> TrackScore:
    score = TrackScore()
    last_id: dict[int, int] = {}
    was_matched: dict[int, bool] = {}
    ids: dict[int, set[int]] = {}
    for frame_truth, faces in zip(truth, reported):
        gt_ids = list(frame_truth)
        score.visible += len(gt_ids)
        gt_boxes = np.array([frame_truth[i] for i in gt_ids]).reshape(-1, 4)
        iou = _iou_matrix(gt_boxes, faces.boxes) if len(gt_ids) and len(faces) else np.zeros((len(gt_ids), 0))
        score.covered += int((iou >= 0.3).any(axis=1).sum()) if iou.size else 0
        matches = _greedy(iou, 0.5)
        matched_now = {gt_ids[g]: int(faces.track_ids[f]) for g, f in matches}
        for gid in gt_ids:
            if gid in matched_now:
                score.matched += 1
                track = matched_now[gid]
                if gid in last_id and track != last_id[gid] and track != NO_TRACK:
                    score.id_switches += 1
                if was_matched.get(gid) is False and gid in last_id:
                    score.fragmentations += 1
                if track != NO_TRACK:
                    last_id[gid] = track
                    ids.setdefault(gid, set()).add(track)
                was_matched[gid] = True
            else:
                was_matched[gid] = False
    score.ids_per_face = round(statistics.mean(len(v) for v in ids.values()), 3) if ids else 0.0
    return score


def _greedy(iou: np.ndarray, least: float) -> list[tuple[int, int]]:
    pairs, iou = [], iou.copy()
    while iou.size and iou.max() >= least:
        g, f = np.unravel_index(int(iou.argmax()), iou.shape)
        pairs.append((int(g), int(f)))
        iou[g, :], iou[:, f] = -1, -1
    return pairs


def previous_frame_baseline(per_frame: list[Detections], least_iou: float = 0.3) -> list[Detections]:
    """What users roll their own: link each face to the previous frame's best-IoU face, else a new id."""
    out, previous, next_id = [], Detections.empty(), 1
    for faces in per_frame:
        ids = np.full(len(faces), NO_TRACK, dtype=np.int64)
        pairs = _greedy(_iou_matrix(faces.boxes, previous.boxes), least_iou) if len(faces) and len(previous) else []
        for f, p in pairs:
            ids[f] = previous.track_ids[p]
        for f in np.flatnonzero(ids == NO_TRACK):
            ids[f], next_id = next_id, next_id + 1
        previous = faces.with_track_ids(ids)
        out.append(previous)
    return out


def run(data_root: Path, backend: str = "onnxruntime", spec: ClipSpec = ClipSpec()) -> dict[str, Any]:
    from evaluation.widerface import image_path, load_widerface_gt

    root = Path(data_root) / "widerface"
    gt = load_widerface_gt(root)
    xywh = gt.boxes[CLIP_IMAGE]
    boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    image = cv2.imread(str(image_path(root, CLIP_IMAGE, "val")))
    clip = make_clip(image, boxes, spec)
    detector = FaceDetector(backend=backend, input_size=640, threads=2)
    per_frame, detect_ms = [], []
    for frame in clip.frames:
        start = time.perf_counter()
        per_frame.append(detector.detect(frame))
        detect_ms.append((time.perf_counter() - start) * 1000)
    variants: dict[str, list[Detections]] = {"previous-frame IoU (baseline)": previous_frame_baseline(per_frame)}
    track_ms: dict[str, float] = {}
    for name, config in (
        ("FaceTracker", TrackerConfig()),
        ("FaceTracker, hold_frames=10", TrackerConfig(hold_frames=10)),
    ):
        tracker, tracked, times = FaceTracker(config), [], []
        for faces in per_frame:
            start = time.perf_counter()
            tracked.append(tracker.update(faces))
            times.append((time.perf_counter() - start) * 1000)
        variants[name], track_ms[name] = tracked, statistics.median(times)
    rows = []
    for name, reported in variants.items():
        s = score_tracks(clip.truth, reported)
        rows.append(
            {
                "tracker": name,
                **asdict(s),
                "recall": round(s.recall, 4),
                "coverage": round(s.coverage, 4),
                "track_ms_median": round(track_ms.get(name, float("nan")), 4) if name in track_ms else None,
            }
        )
    return {
        "clip": {"image": CLIP_IMAGE, "annotated_faces": int(len(boxes)), **asdict(spec)},
        "backend": detector.backend_name,
        "detect_ms_median": round(statistics.median(detect_ms), 2),
        "rows": rows,
    }


def render_markdown(result: dict[str, Any]) -> str:
    c = result["clip"]
    lines = [
        f"Clip: {c['frames']} frames of {c['width']}x{c['height']}, a virtual camera (pan, zoom, jitter) over WIDER "
        f"val `{c['image']}` ({c['annotated_faces']} annotated faces), an occluding bar sweeping across in frames "
        f"{c['occluder_frames'][0]}-{c['occluder_frames'][1]}; ground truth from the official boxes under the "
        f"camera's transform. Detector: {result['backend']}, 640, score 0.5 ({result['detect_ms_median']} ms "
        "median per frame).",
        "",
        "| association | ID switches | fragmentations | ids per face | recall (IoU ≥ 0.5) | blur coverage | "
        "tracker ms/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        cost = "—" if r["track_ms_median"] is None else f"{r['track_ms_median']:.3f}"
        lines.append(
            f"| {r['tracker']} | {r['id_switches']} | {r['fragmentations']} | {r['ids_per_face']} | "
            f"{r['recall']:.3f} | {r['coverage']:.3f} | {cost} |"
        )
    lines += [
        "",
        "Blur coverage: visible face-frames overlapped (IoU ≥ 0.3) by a reported box — with "
        "`hold_frames` the tracker keeps reporting a briefly missed face's predicted box, so a privacy blur "
        "stays on it. Regenerate: `python -m benchmarks.tracking --data-root ../shared/data --out "
        "out/tracking --doc docs/BENCHMARKS.md`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tracking", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--doc", type=Path, default=None, help="splice the section into this page's tracking block")
    args = parser.parse_args(argv)
    result = run(args.data_root, args.backend)
    section = save_and_publish("tracking", result, args.out, args.doc)
    (args.out / "tracking.md").write_text(section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
