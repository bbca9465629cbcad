import cv2
import numpy as np
import pytest

from edge_sdk import FaceDetector, InvalidArgumentError
from edge_sdk.tiling import TiledDetector, tile_origins


@pytest.mark.parametrize("length,tile,overlap", [(640, 640, 128), (641, 640, 128), (1920, 640, 128), (3000, 512, 100)])
def test_tile_origins_cover_with_overlap(length, tile, overlap):
    origins = tile_origins(length, tile, overlap)
    assert origins[0] == 0 and origins[-1] + min(tile, length) == length
    for a, b in zip(origins, origins[1:]):
        assert tile - (b - a) >= overlap  # neighbours share at least `overlap` pixels


def test_small_faces_in_a_large_frame(astronaut):
    """A 4K frame with the astronaut shrunk to a small face: found by tiles, missed by a single 640 pass."""
    frame = np.full((2160, 3840, 3), 120, np.uint8)
    small = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)  # face ~24 px tall
    positions = [(300, 200), (1700, 1000), (3000, 1900), (620, 1500)]  # (620,1500) straddles a tile border
    for x, y in positions:
        frame[y : y + 128, x : x + 128] = small
    single = FaceDetector(input_size=640).detect(frame)
    tiled = TiledDetector(FaceDetector(input_size=640), overlap=160).detect(frame)
    centers = np.array([[x + 64, y + 40] for x, y in positions], np.float32)

    def found(d):
        cx = (d.boxes[:, 0] + d.boxes[:, 2]) / 2
        cy = (d.boxes[:, 1] + d.boxes[:, 3]) / 2
        return sum(bool(np.any((np.abs(cx - c[0]) < 30) & (np.abs(cy - c[1]) < 40))) for c in centers)

    assert found(tiled) == len(positions) and len(tiled) == len(positions)  # each once: no duplicates/fragments
    assert found(single) < len(positions)


def test_large_face_comes_from_the_global_pass(astronaut):
    frame = cv2.resize(astronaut, (1600, 1600))  # face ~380 px: bigger than any tile's overlap
    tiled = TiledDetector(FaceDetector(input_size=640)).detect(frame)
    assert len(tiled) == 1 and tiled.boxes[0, 2] - tiled.boxes[0, 0] > 250
    no_global = TiledDetector(FaceDetector(input_size=640), global_pass=False).detect(frame)
    assert len(no_global) == 0  # tiles alone drop faces they cannot have seen whole


def test_bad_configuration():
    with pytest.raises(InvalidArgumentError, match="fixed input_size"):
        TiledDetector(FaceDetector(input_size=None))
    with pytest.raises(InvalidArgumentError, match="overlap"):
        TiledDetector(FaceDetector(input_size=640), overlap=700)
