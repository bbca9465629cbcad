"""Face detection over many images with Ray Data: the same script on a laptop and on a cluster.

Local (starts a private Ray runtime on this machine):

    python examples/ray_batch.py ../shared/data/widerface/WIDER_val/images --out out/ray --actors 2

On a cluster (see docs/INTEGRATIONS.md): `ray start --head` on one node, `ray start --address HEAD:6379` on the others,
then on any node of it (paths must be readable from every node: a shared filesystem or s3://...):

    python examples/ray_batch.py /shared/images --out /shared/out/faces --address auto --actors 16 --format parquet

Prints the number of images, faces, unreadable images and the throughput (images/s, actor start-up included).
Needs `pip install 'edge-face-sdk[ray]'`.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="image files, folders or globs (or s3://... on a cluster)")
    parser.add_argument("--out", required=True, help="output folder (JSON lines or Parquet files)")
    parser.add_argument("--format", choices=("jsonl", "parquet"), default="jsonl")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--actors", type=int, default=1, help="detector actors (one model each)")
    parser.add_argument("--cpus-per-actor", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (sorted), for quick runs")
    parser.add_argument("--blur", choices=("blur", "pixelate"), default=None, help="also write anonymized images")
    parser.add_argument("--blur-dir", default=None, help="where anonymized images go (default: OUT_blurred)")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--input-size", type=int, default=640)
    parser.add_argument(
        "--address",
        default="local",
        help="'local' (a private runtime here), 'auto' (the cluster this node belongs to) or ray://...",
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="local runtime only: CPUs to use (default: all)")
    parser.add_argument("--node-ip", default=None, help="local runtime only: bind address, e.g. 127.0.0.2")
    return parser.parse_args()


def expand(inputs: list[str], limit: int | None) -> list[str] | str:
    """Local paths → a sorted file list (so --limit is reproducible); remote URIs are passed to Ray as they are."""
    if any("://" in item for item in inputs):
        return inputs
    files: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files += [str(p) for p in path.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
        else:
            files += glob.glob(item) or [item]
    files = sorted(set(files))
    return files[:limit] if limit else files


def summarize(output: str, fmt: str) -> tuple[int, int, int]:
    """(images, faces, unreadable) read back from the written files."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(output, columns=["faces", "error"]).to_pylist()
    else:
        lines = [line for f in sorted(Path(output).glob("*.json")) for line in f.read_text().splitlines()]
        rows = [json.loads(line) for line in lines if line]
    return len(rows), sum(len(r["faces"] or []) for r in rows), sum(1 for r in rows if r["error"])


def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    from edge_sdk.integrations.ray_data import detect_dataset

    init: dict = {"address": args.address, "log_to_driver": False}
    temp_dir = None
    if args.address == "local":
        temp_dir = tempfile.mkdtemp(prefix="ray_", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
        init.update(
            num_cpus=args.num_cpus, include_dashboard=False, object_store_memory=256 * 1024**2, _temp_dir=temp_dir
        )
        if args.node_ip:
            init["_node_ip_address"] = args.node_ip
    ray.init(**init)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        sources = expand(args.inputs, args.limit)
        blur_dir = args.blur_dir or (f"{args.out.rstrip('/')}_blurred" if args.blur else None)
        result = detect_dataset(
            sources,
            args.out,
            output_format=args.format,
            actors=args.actors,
            num_cpus_per_actor=args.cpus_per_actor,
            batch_size=args.batch_size,
            blur=args.blur,
            blur_dir=blur_dir,
            overwrite=args.overwrite,
            backend=args.backend,
            input_size=args.input_size,
        )
        images, faces, errors = summarize(result["output"], args.format)
        print(
            f"{images} image(s), {faces} face(s), {errors} unreadable, {args.actors} actor(s): "
            f"{result['seconds']:.1f} s, {images / result['seconds']:.1f} img/s → {result['output']}"
        )
    finally:
        ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
