"""Privacy: blur every face in a video file.  python examples/blur_video.py IN.mp4 OUT.mp4 [--every 2]"""

import argparse

import cv2

from edge_sdk import FaceDetector
from edge_sdk.privacy import anonymize_faces
from edge_sdk.sources import Source, open_video, video_frames

parser = argparse.ArgumentParser()
parser.add_argument("video")
parser.add_argument("out")
parser.add_argument("--every", type=int, default=1, help="run the detector on every N-th frame")
args = parser.parse_args()

capture = open_video(Source("video", args.video))
fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
writer = None
detector = FaceDetector(input_size=640)
for frame, faces in detector.stream(video_frames(capture), every=args.every):
    if writer is None:
        writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*"mp4v"), fps, (frame.shape[1], frame.shape[0]))
    writer.write(anonymize_faces(frame, faces, mode="blur"))
capture.release()
if writer is not None:
    writer.release()
print(f"wrote {args.out}")
