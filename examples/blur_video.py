"""Privacy: blur every face in a video file.

    python examples/blur_video.py IN.mp4 OUT.mp4 [--every 2]

Exit status 0, or 2 with one `error: ...` line on stderr when the input cannot be opened or has no readable frame,
or the output cannot be written.
"""

from __future__ import annotations

import argparse
import sys

import cv2

from edge_sdk import FaceDetector
from edge_sdk.errors import InvalidArgumentError
from edge_sdk.privacy import anonymize_faces
from edge_sdk.sources import Source, open_video, video_frames


def blur(capture: cv2.VideoCapture, out: str, every: int) -> int:
    """Frames written to ``out``; raises OSError when the writer cannot be opened."""
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer, written = None, 0
    detector = FaceDetector(input_size=640)
    try:
        for frame, faces in detector.stream(video_frames(capture), every=every):
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
                if not writer.isOpened():
                    raise OSError(f"cannot write the video {out!r}")
            writer.write(anonymize_faces(frame, faces, mode="blur"))
            written += 1
    finally:
        if writer is not None:
            writer.release()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", help="input video file")
    parser.add_argument("out", help="output video (MP4)")
    parser.add_argument("--every", type=int, default=1, help="run the detector on every N-th frame")
    args = parser.parse_args()
    try:
        capture = open_video(Source("video", args.video))
    except InvalidArgumentError as exc:
        print(f"error: {exc} (missing, corrupt or not a video)", file=sys.stderr)
        return 2
    try:
        written = blur(capture, args.out, args.every)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        capture.release()
    if written == 0:
        print(f"error: no frame could be read from {args.video!r}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({written} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
