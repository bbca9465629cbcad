"""Detect faces in one image and print them.

    python examples/detect_image.py samples/astronaut.png

Exit status 0, or 2 with one `error: ...` line on stderr when the file is missing, corrupt or not an image.
"""

from __future__ import annotations

import argparse
import sys

from edge_sdk import FaceDetector
from edge_sdk.errors import InvalidImageError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "image", nargs="?", default="samples/astronaut.png", help="JPEG, PNG, ... file (default: %(default)s)"
    )
    args = parser.parse_args()
    try:
        faces = FaceDetector().detect(args.image)  # a file path: decoded with its EXIF orientation applied
    except InvalidImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for face in faces:
        x1, y1, x2, y2 = face.box
        print(
            f"face {face.score:.3f} at ({x1:.0f}, {y1:.0f})-({x2:.0f}, {y2:.0f}), left eye {face.landmarks[0].round(1)}"
        )
    print(f"{len(faces)} face(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
