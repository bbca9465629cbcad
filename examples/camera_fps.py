"""Camera loop with an FPS overlay.

    python examples/camera_fps.py [CAMERA_INDEX_OR_VIDEO] [--backend tflite] [--precision int8] [--threads 4]
                                  [--every 2] [--max-frames N] [--headless OUT.mp4]

Press q to quit the window. With --headless the annotated frames go to a video file instead of a window (boards
without a display, the opencv-python-headless build the SDK installs, and tests). Exit status 0; 2 with one
`error: ...` line on stderr when the source cannot be opened or gives no frame; 1 when the output cannot be shown
or written.
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2

from edge_sdk import FaceDetector
from edge_sdk.draw import draw_detections
from edge_sdk.errors import InvalidArgumentError
from edge_sdk.sources import classify, open_video, video_frames


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", default="0", help="camera index, video file or rtsp:// URL")
    parser.add_argument("--max-frames", type=int, default=0)
    parser.add_argument("--headless", default=None, help="write annotated frames to this video instead of a window")
    parser.add_argument(
        "--input-size",
        type=int,
        default=640,
        help="640 runs on every backend; 320 (ONNX Runtime, OpenVINO) is ~3x faster but misses small faces",
    )
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default="fp32", help="fp32 or int8 (640 only)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--every", type=int, default=1, help="run the model on every N-th frame (reuse faces between)")
    return parser.parse_args()


def show(shown, headless: str | None, writer: cv2.VideoWriter | None) -> tuple[cv2.VideoWriter | None, bool]:
    """Write or display one annotated frame; returns the writer and whether the user asked to quit."""
    if headless:
        if writer is None:
            size = (shown.shape[1], shown.shape[0])
            writer = cv2.VideoWriter(headless, cv2.VideoWriter_fourcc(*"mp4v"), 25, size)
            if not writer.isOpened():
                raise SystemExit(f"error: cannot write the video {headless!r}")
        writer.write(shown)
        return writer, False
    try:
        cv2.imshow("edge-sdk", shown)
    except cv2.error:
        raise SystemExit("this OpenCV build has no GUI (opencv-python-headless): pass --headless OUT.mp4") from None
    return writer, cv2.waitKey(1) & 0xFF == ord("q")


def main() -> int:
    args = parse_args()
    try:
        capture = open_video(classify(args.source))
    except InvalidArgumentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    detector = FaceDetector(
        backend=args.backend, precision=args.precision, input_size=args.input_size, threads=args.threads
    )
    writer, fps, last, frames = None, 0.0, time.perf_counter(), 0
    try:
        for index, (frame, faces) in enumerate(detector.stream(video_frames(capture), every=args.every)):
            now = time.perf_counter()
            fps = 0.9 * fps + 0.1 / max(now - last, 1e-6) if index else 0.0
            last, frames = now, index + 1
            shown = draw_detections(frame, faces)
            cv2.putText(
                shown, f"{fps:.1f} FPS, {len(faces)} face(s)", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 255), 2
            )
            writer, quit_asked = show(shown, args.headless, writer)
            if quit_asked or (args.max_frames and frames >= args.max_frames):
                break
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if frames == 0:
        print(f"error: no frame could be read from {args.source!r}", file=sys.stderr)
        return 2
    print(f"done, {frames} frame(s), last FPS {fps:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
