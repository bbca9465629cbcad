"""Batch inference on Ray Data (extra ``[ray]``): the same code on a laptop and on a cluster.

- :class:`FaceDetectionBatch`: a callable class for ``Dataset.map_batches``; Ray creates one per actor, so the model
  is loaded once per actor, not per batch. Input batches have a ``bytes`` column (encoded JPEG/PNG, as from
  ``ray.data.read_binary_files``) or an ``image`` column (decoded RGB arrays, as from ``ray.data.read_images``),
  and optionally ``path``. Output: one row per image with the CLI's JSON record fields (``image``, ``width``,
  ``height``, ``model``, ``backend``, ``latency_ms``, ``faces``) plus ``error`` (null unless the image was
  unreadable) and ``blurred`` (where the anonymized copy was written, when asked).
- :func:`detect_dataset`: paths (files, folders, globs, ``s3://`` ... whatever Ray reads) or a ``ray.data.Dataset``
  in; JSON lines or Parquet files out; optionally blurred images.

Scaling out is Ray's job: connect to a cluster (``ray.init(address="auto")`` on a node of it) and raise ``actors``.
Output and ``blur_dir`` paths must then be reachable from every node (shared filesystem or object storage).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import ray

from ..detections import Detections
from ..detector import FaceDetector
from ..privacy import MODES, anonymize_faces
from ..records import FrameInfo, error_record
from .payload import Limits, PayloadError, decode_payload
from .records import detect_record, example_record

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = ["jpg", "jpeg", "png", "JPG", "JPEG", "PNG"]
OUTPUT_FORMATS = ("jsonl", "parquet")


class FaceDetectionBatch:
    """``ds.map_batches(FaceDetectionBatch, fn_constructor_kwargs={...}, compute=ActorPoolStrategy(size=N))``.

    Constructor keyword arguments are those of :class:`edge_sdk.FaceDetector`, plus ``blur`` ("blur" or
    "pixelate") with ``blur_dir`` to also write anonymized JPEGs, and ``limits`` for encoded inputs.
    """

    def __init__(
        self, blur: str | None = None, blur_dir: str | None = None, limits: Limits | None = None, **detector_kwargs: Any
    ) -> None:
        if blur is not None and blur not in MODES:
            raise ValueError(f"blur must be one of {MODES}, got {blur!r}")
        if blur is not None and blur_dir is None:
            raise ValueError("blur needs blur_dir (where the anonymized images go)")
        self.detector = FaceDetector(**detector_kwargs)
        self.blur, self.blur_dir = blur, blur_dir
        self.limits = limits or Limits(max_pixels=self.detector.max_pixels)
        self.schema = record_schema(self.detector)
        log.info("actor loaded %s via %s", self.detector.model_file.path.name, self.detector.backend_name)

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        count = len(batch["bytes"] if "bytes" in batch else batch["image"])
        paths = batch.get("path")
        rows = [self._row(batch, i, None if paths is None else str(paths[i])) for i in range(count)]
        return pa.Table.from_pylist(rows, schema=self.schema)

    def _row(self, batch: dict[str, np.ndarray], index: int, path: str | None) -> dict[str, Any]:
        try:
            if "bytes" in batch:
                image, rgb = decode_payload(bytes(batch["bytes"][index]), self.limits)[0], False
            else:
                image, rgb = np.asarray(batch["image"][index]), True
            detections, record = detect_record(self.detector, image, path, rgb=rgb)
        except PayloadError as exc:
            log.warning("skipping %s: %s", path, exc)
            return error_record(FrameInfo(image=path, timestamp=time.time()), exc)
        if self.blur is not None:
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if rgb else image
            record["blurred"] = self._write_blurred(bgr, detections, path)
        return record

    def _write_blurred(self, image: np.ndarray, detections: Detections, path: str | None) -> str:
        name = Path(path) if path else Path(uuid.uuid4().hex)
        target = Path(self.blur_dir) / name.parent.name / f"{name.stem}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(target), anonymize_faces(image, detections, mode=self.blur)):
            raise OSError(f"could not write {target}")
        return str(target)


def record_schema(detector: FaceDetector) -> pa.Schema:
    """Arrow schema of the output rows: the detection record of :mod:`edge_sdk.records` as a table (a one-face
    sample fixes the nested types, so batches without faces or with only errors still write the same schema), plus
    the error record's ``error`` and the ``blurred`` path; every row has every column, null where it has no value."""
    schema = pa.Table.from_pylist([example_record(detector)]).schema
    error = pa.struct([pa.field("type", pa.string()), pa.field("message", pa.string())])
    return schema.append(pa.field("error", error)).append(pa.field("blurred", pa.string()))


def _warn_if_no_room_upstream(actor_cpus: float) -> None:
    cluster_cpus = ray.cluster_resources().get("CPU", 0.0)
    if actor_cpus >= cluster_cpus:
        log.warning(
            "the detector actors reserve %.1f of the cluster's %.1f CPUs: unless the tasks producing the dataset ask "
            "for none (e.g. ray.data.read_images(..., num_cpus=0)), they never run and the pipeline waits forever; "
            "else use fewer actors or a smaller num_cpus_per_actor",
            actor_cpus,
            cluster_cpus,
        )


def read_images(paths: str | Sequence[str], num_cpus: float = 0.0, concurrency: int = 2) -> ray.data.Dataset:
    """A dataset of encoded images (``bytes``, ``path``) from files, folders or globs; decoding happens in the
    actors, which keeps the object store small and applies EXIF orientation like the rest of the SDK.

    Read tasks ask for ``num_cpus`` (default 0: file reads are I/O, and detector actors that hold every CPU would
    otherwise leave no room for them and the pipeline would wait forever); ``concurrency`` bounds how many run at
    once (0-CPU tasks are otherwise started without limit, each in a worker process of its own).
    """
    return ray.data.read_binary_files(
        paths if isinstance(paths, str) else list(paths),
        include_paths=True,
        file_extensions=IMAGE_EXTENSIONS,
        num_cpus=num_cpus,
        concurrency=concurrency,
    )


def detect_dataset(
    source: str | Sequence[str] | ray.data.Dataset,
    output: str | Path,
    *,
    output_format: str = "jsonl",
    actors: int = 1,
    batch_size: int = 16,
    num_cpus_per_actor: float = 1.0,
    blur: str | None = None,
    blur_dir: str | Path | None = None,
    io_num_cpus: float = 0.0,
    io_concurrency: int = 2,
    overwrite: bool = False,
    **detector_kwargs: Any,
) -> dict[str, Any]:
    """Detect faces in every image of ``source`` and write one row per image to ``output`` (a folder of ``.json``
    JSON-lines files or ``.parquet`` files). Returns ``{"output", "seconds", "actors"}``.

    ``detector_kwargs`` go to :class:`edge_sdk.FaceDetector` (``threads`` defaults to ``num_cpus_per_actor``).
    ``io_num_cpus``, ``io_concurrency``: CPUs asked by each read and write task (0 by default) and how many run at
    once (see :func:`read_images`). An existing ``output`` is an error unless ``overwrite`` (it would otherwise
    mix old and new rows).
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
    if actors < 1:
        raise ValueError(f"actors must be >= 1, got {actors}")
    if isinstance(source, ray.data.Dataset):
        dataset = source
        _warn_if_no_room_upstream(actors * num_cpus_per_actor)
    else:
        dataset = read_images(source, io_num_cpus, io_concurrency)
    detector_kwargs.setdefault("threads", max(1, int(num_cpus_per_actor)))
    constructor = {**detector_kwargs, "blur": blur, "blur_dir": None if blur_dir is None else str(blur_dir)}
    results = dataset.map_batches(
        FaceDetectionBatch,
        fn_constructor_kwargs=constructor,
        compute=ray.data.ActorPoolStrategy(size=actors),
        batch_size=batch_size,
        batch_format="numpy",
        num_cpus=num_cpus_per_actor,
    )
    start = time.perf_counter()
    output = str(output)
    write_args = {
        "ray_remote_args": {"num_cpus": io_num_cpus},
        "concurrency": io_concurrency,
        "mode": ray.data.SaveMode.OVERWRITE if overwrite else ray.data.SaveMode.ERROR,
    }
    if output_format == "parquet":
        results.write_parquet(output, **write_args)
    else:  # JSON lines, one file per write task
        results.write_json(output, **write_args)
    seconds = time.perf_counter() - start
    log.info("wrote %s (%s) in %.1f s with %d actor(s)", output, output_format, seconds, actors)
    return {"output": output, "seconds": seconds, "actors": actors}
