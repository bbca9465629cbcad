"""Camera loop with an FPS overlay.

    python examples/camera_fps.py [CAMERA_INDEX_OR_VIDEO] [--backend tflite] [--precision int8] [--threads 4]
                                  [--every 2] [--max-frames N] [--headless OUT.mp4]

Press q to quit the window. With --headless the annotated frames go to a video file instead of a window (boards
without a display, the opencv-python-headless build the SDK installs, and tests).
"""

import argparse
import time

import cv2

from edge_sdk import FaceDetector
from edge_sdk.draw import draw_detections
from edge_sdk.sources import classify, open_video, video_frames

parser = argparse.ArgumentParser()
parser.add_argument("source", nargs="?", default="0")
parser.add_argument("--max-frames", type=int, default=0)
parser.add_argument("--headless", default=None, help="write annotated frames to this video instead of a window")
parser.add_argument("--input-size", type=int, default=640, help="640 runs on every backend; 320 (ONNX Runtime, "
                    "OpenVINO) is ~3x faster but misses small faces")
parser.add_argument("--backend", default="auto")
parser.add_argument("--precision", default="fp32", help="fp32 or int8 (640 only)")
parser.add_argument("--threads", type=int, default=None)
parser.add_argument("--every", type=int, default=1, help="run the model on every N-th frame (reuse faces between)")
args = parser.parse_args()

detector = FaceDetector(backend=args.backend, precision=args.precision, input_size=args.input_size, threads=args.threads)
capture = open_video(classify(args.source))
writer, fps, last = None, 0.0, time.perf_counter()
for index, (frame, faces) in enumerate(detector.stream(video_frames(capture), every=args.every)):
    now = time.perf_counter()
    fps = 0.9 * fps + 0.1 / max(now - last, 1e-6) if index else 0.0
    last = now
    shown = draw_detections(frame, faces)
    cv2.putText(shown, f"{fps:.1f} FPS, {len(faces)} face(s)", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 255, 255), 2)
    if args.headless:
        if writer is None:
            writer = cv2.VideoWriter(args.headless, cv2.VideoWriter_fourcc(*"mp4v"), 25, (frame.shape[1], frame.shape[0]))
        writer.write(shown)
    else:
        try:
            cv2.imshow("edge-sdk", shown)
        except cv2.error:
            raise SystemExit("this OpenCV build has no GUI (opencv-python-headless): pass --headless OUT.mp4") from None
        if cv2.waitKey(1) & 0xFF == ord("q"):
            break
    if args.max_frames and index + 1 >= args.max_frames:
        break
capture.release()
if writer is not None:
    writer.release()
print(f"done, last FPS {fps:.1f}")
