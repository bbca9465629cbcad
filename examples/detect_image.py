"""Detect faces in one image and print them.  python examples/detect_image.py samples/astronaut.png"""

import sys

import cv2

from edge_sdk import FaceDetector

image = cv2.imread(sys.argv[1] if len(sys.argv) > 1 else "samples/astronaut.png")
faces = FaceDetector().detect(image)
for face in faces:
    x1, y1, x2, y2 = face.box
    print(f"face {face.score:.3f} at ({x1:.0f}, {y1:.0f})-({x2:.0f}, {y2:.0f}), left eye {face.landmarks[0].round(1)}")
print(f"{len(faces)} face(s)")
