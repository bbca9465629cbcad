"""Tracking (stable ids across frames), stream timestamps, and live sources that fail and recover."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector, InvalidArgumentError
from edge_sdk.detections import NO_TRACK, Detections
from edge_sdk.errors import SourceError
from edge_sdk.sources import Frame, ReconnectPolicy, Source, VideoSource
from edge_sdk.tracking import FaceTracker, TrackerConfig


def _faces(boxes: list[list[float]], scores: list[float] | None = None) -> Detections:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    s = np.array(scores if scores is not None else [0.9] * len(b), np.float32)
    centres = (b[:, :2] + b[:, 2:]) / 2
    return Detections(b, s, np.repeat(centres[:, None, :], 5, axis=1))


def _box(x: float, y: float, size: float = 40) -> list[float]:
    return [x, y, x + size, y + size]


# ------------------------------------------------------------------------------------------------ the tracker


def test_ids_follow_moving_faces_through_missed_frames() -> None:
    tracker = FaceTracker()
    ids = []
    for k in range(20):
        boxes = [_box(10 + 6 * k, 50), _box(400 - 6 * k, 52)]  # two faces walking past each other's lanes
        if 8 <= k <= 11:
            boxes = boxes[1:]  # the first is missed for four frames
        out = tracker.update(_faces(boxes))
        ids.append({tuple(np.round(b[:1])): int(t) for b, t in zip(out.boxes, out.track_ids)})
    first = [d for d in ids]
    assert set(first[0].values()) == {1, 2}
    # after the gap the first face gets its old id back, not a new one
    final = tracker.update(_faces([_box(10 + 6 * 20, 50), _box(400 - 6 * 20, 52)]))
    assert sorted(final.track_ids.tolist()) == [1, 2]


def test_a_face_gone_longer_than_the_buffer_gets_a_new_id() -> None:
    tracker = FaceTracker(TrackerConfig(track_buffer=3))
    assert tracker.update(_faces([_box(100, 100)])).track_ids.tolist() == [1]
    for _ in range(5):
        tracker.update(Detections.empty())
    assert tracker.update(_faces([_box(100, 100)])).track_ids.tolist() == [2]


def test_a_low_score_face_keeps_its_id_and_never_starts_a_track() -> None:
    tracker = FaceTracker()
    tracker.update(_faces([_box(100, 100)], [0.95]))
    assert tracker.update(_faces([_box(103, 100)], [0.3])).track_ids.tolist() == [1]  # blurred: second pass
    assert tracker.update(_faces([_box(300, 300)], [0.3])).track_ids.tolist() == [NO_TRACK]


def test_hold_frames_reports_the_predicted_box_then_stops() -> None:
    tracker = FaceTracker(TrackerConfig(hold_frames=2))
    for k in range(5):
        tracker.update(_faces([_box(100 + 5 * k, 100)]))
    held = [tracker.update(Detections.empty()) for _ in range(3)]
    assert [len(h) for h in held] == [1, 1, 0]
    assert held[0].track_ids.tolist() == [1] and held[0].boxes[0, 0] > 120  # moved on with the motion model
    assert held[1].boxes[0, 0] > held[0].boxes[0, 0]


def test_tracker_config_is_validated() -> None:
    with pytest.raises(InvalidArgumentError):
        TrackerConfig(high_score=2.0)
    with pytest.raises(InvalidArgumentError):
        TrackerConfig(track_buffer=-1)


def test_clip_tracking_beats_previous_frame_linking(shared_data: Path) -> None:
    """The benchmark's clip, shortened: fewer identity switches than linking each frame to the previous one, and
    with hold_frames the blur covers at least as much; stream(track=True) gives the tracker's ids."""
    from benchmarks.tracking import CLIP_IMAGE, ClipSpec, make_clip, previous_frame_baseline, score_tracks
    from evaluation.widerface import image_path, load_widerface_gt

    root = shared_data / "widerface"
    xywh = load_widerface_gt(root).boxes[CLIP_IMAGE]
    image = cv2.imread(str(image_path(root, CLIP_IMAGE, "val")))
    clip = make_clip(
        image,
        np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
        ClipSpec(frames=60, occluder_frames=(20, 40)),
    )
    detector = FaceDetector(backend="onnxruntime", input_size=640)
    tracked = [item.faces for item in detector.stream(clip.frames, track=True)]
    per_frame = [detector.detect(f) for f in clip.frames]
    tracker = FaceTracker()
    np.testing.assert_array_equal(
        np.concatenate([t.track_ids for t in tracked]), np.concatenate([tracker.update(f).track_ids for f in per_frame])
    )
    ours, baseline = score_tracks(clip.truth, tracked), score_tracks(clip.truth, previous_frame_baseline(per_frame))
    held = FaceTracker(TrackerConfig(hold_frames=10))
    with_hold = score_tracks(clip.truth, [held.update(f) for f in per_frame])
    print("ours", ours, "baseline", baseline, "hold", with_hold)
    assert ours.recall > 0.9
    assert ours.id_switches < baseline.id_switches and ours.ids_per_face < baseline.ids_per_face
    assert with_hold.coverage >= ours.coverage


# ------------------------------------------------------------------------------------------------ streams


def test_stream_items_unpack_as_pairs_and_carry_timestamps(detector: FaceDetector, astronaut) -> None:
    frames = [astronaut] * 4
    items = list(detector.stream(frames, every=2))
    for frame, faces in items:  # the old two-value form still works
        assert frame is astronaut and len(faces) == 1
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert all(a.timestamp <= b.timestamp for a, b in zip(items, items[1:]))
    assert [i.latency_ms > 0 for i in items] == [True, False, True, False]
    stamped = [Frame(astronaut, index=10 + k, timestamp=1000.0 + k, media_time_ms=40.0 * k) for k in range(3)]
    out = list(detector.track(stamped))
    assert [(i.index, i.timestamp, i.media_time_ms) for i in out] == [
        (10, 1000.0, 0.0),
        (11, 1001.0, 40.0),
        (12, 1002.0, 80.0),
    ]
    assert all(i.frame is astronaut and i.faces.track_ids.tolist() == [1] for i in out)


class ScriptedCapture:
    """A capture that yields ``frames`` good reads, then fails every read (the camera dropped)."""

    def __init__(self, frames: int, opens: bool = True) -> None:
        self.left, self.opens, self.released = frames, opens, False

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.opens

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((8, 8, 3), np.uint8)

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        self.released = True


def test_live_source_reconnects_with_backoff_and_reports_it() -> None:
    script = iter(
        [
            ScriptedCapture(3),
            ScriptedCapture(0, opens=False),
            ScriptedCapture(2),
            ScriptedCapture(0),
            ScriptedCapture(0, opens=False),
            ScriptedCapture(0, opens=False),
        ]
    )
    sleeps: list[float] = []
    source = VideoSource(
        Source("stream", "rtsp://camera/1"),
        ReconnectPolicy(max_attempts=3, initial_delay_s=0.5),
        opener=lambda _: next(script),
        sleep=sleeps.append,
    )
    frames = list(source)
    # 3 frames; reconnect fails once, then succeeds: 2 frames; then 3 failed attempts in a row: give up
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.reconnects for f in frames] == [0, 0, 0, 1, 1]
    assert sleeps == [0.5, 1.0, 0.5, 1.0, 2.0]  # backoff doubles, and restarts after a frame got through
    assert source.gave_up and source.reconnects == 2
    assert all(f.media_time_ms is not None and f.media_time_ms >= 0 for f in frames)


def test_file_source_ends_without_reconnecting(tmp_path: Path, astronaut) -> None:
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (512, 512))
    for _ in range(5):
        writer.write(astronaut)
    writer.release()
    source = VideoSource(Source("video", str(video)), sleep=lambda s: pytest.fail("a file must not reconnect"))
    frames = list(source)
    assert len(frames) == 5 and not source.gave_up
    np.testing.assert_allclose([f.media_time_ms for f in frames], [0, 40, 80, 120, 160], atol=1)
    with pytest.raises(SourceError):
        VideoSource(Source("video", str(tmp_path / "missing.avi")))
