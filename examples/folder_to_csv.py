"""Process a folder of images (recursively) into one CSV row per face.

    python examples/folder_to_csv.py FOLDER OUT.csv

An image that cannot be read (corrupt, truncated, not an image) gets one row with only its name and the reason in
the `error` column, and a line on stderr; the run goes on. Exit status 0, or 1 when some images were unreadable.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from edge_sdk import LANDMARK_NAMES, FaceDetector
from edge_sdk.errors import InvalidImageError
from edge_sdk.sources import images_in

FIELDS = ["image", "score", "x1", "y1", "x2", "y2", *(f"{n}_{c}" for n in LANDMARK_NAMES for c in "xy"), "error"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder of JPEG/PNG/... images, searched recursively")
    parser.add_argument("out", type=Path, help="CSV file to write")
    args = parser.parse_args()
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    detector = FaceDetector()
    images = faces = unreadable = 0
    with open(args.out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for path in images_in(args.folder):
            name = path.relative_to(args.folder).as_posix()
            images += 1
            try:
                found = detector.detect(path)  # file paths are accepted directly (EXIF orientation applied)
            except InvalidImageError as exc:
                unreadable += 1
                print(f"skipped {name}: {exc}", file=sys.stderr)
                writer.writerow([name] + [""] * (len(FIELDS) - 2) + [str(exc)])
                continue
            faces += len(found)
            for face in found:
                writer.writerow(
                    [
                        name,
                        f"{face.score:.4f}",
                        *(f"{v:.1f}" for v in face.box),
                        *(f"{v:.1f}" for v in face.landmarks.ravel()),
                        "",
                    ]
                )
    print(f"wrote {args.out}: {images} image(s), {faces} face(s), {unreadable} unreadable")
    return 1 if unreadable else 0


if __name__ == "__main__":
    raise SystemExit(main())
