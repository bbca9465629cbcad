"""Process a folder of images into one CSV row per face.  python examples/folder_to_csv.py FOLDER OUT.csv"""

import csv
import sys
from pathlib import Path

from edge_sdk import LANDMARK_NAMES, FaceDetector
from edge_sdk.sources import images_in

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
detector = FaceDetector()
with open(out, "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["image", "score", "x1", "y1", "x2", "y2"] + [f"{n}_{c}" for n in LANDMARK_NAMES for c in "xy"])
    for path in images_in(folder):
        for face in detector.detect(path):  # file paths are accepted directly (EXIF orientation applied)
            writer.writerow([path.relative_to(folder).as_posix(), f"{face.score:.4f}",
                             *(f"{v:.1f}" for v in face.box), *(f"{v:.1f}" for v in face.landmarks.ravel())])
print(f"wrote {out}")
