"""Token loader speed: tokens/s of each reader of token shards against a plain pyarrow read
of the same files, in this process.

    .venv/bin/python benchmarks/bench_token_loader.py [--clips 20000] [--rounds 5]

Writes synthetic token shards of the demo's layout (L = 5 latent frames of 8 x 8 video
tokens and s = 2 motion tokens: 330 tokens a clip) in 8 files, then times, alternating
rounds and comparing medians:
- baseline: `pyarrow.parquet.read_table` of the token columns (no conversion);
- direct: `load_tokens` of the same columns (pyarrow into contiguous numpy arrays), then every
  shuffled batch of 64;
- Ray Data: `ray_token_dataset(...).iter_batches(batch_size=64)`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def write_shards(root: str, clips: int, files: int = 8) -> int:
    from unimo.pipelines import token_shards
    from unimo.platform import storage

    L, h, w, s = 5, 8, 8, 2
    rng = np.random.default_rng(0)
    for f in range(files):
        n = clips // files
        rows = {"clip_id": [f"c{f}-{i}" for i in range(n)], "source": ["synthetic"] * n, "start_frame": [0] * n,
                "num_frames": [17] * n, "video_tokens": list(rng.integers(0, 64000, (n, L * h * w), dtype=np.int32)),
                "motion_tokens": list(rng.integers(0, 512, (n, L * s), dtype=np.int32)),
                "motion_start": list(np.zeros((n, 3), np.float32)), "motion_yaw": [0.0] * n, "betas": list(np.zeros((n, 10), np.float32))}
        storage.makedirs(storage.join(root, token_shards.TOKENS))
        pq.write_table(pa.Table.from_pydict(rows, schema=token_shards.TOKEN_SCHEMA), f"{root}/{token_shards.TOKENS}/part-{f}.parquet")
    token_shards.TokenManifest(video_tokenizer={}, motion_tokenizer={}, latent_frames=L, motion_tokens_per_latent=s, grid=[h, w],
                               frames=17, size=64, fps=30.0, clips=files * (clips // files)).write(root)
    return files * (clips // files) * (L * h * w + L * s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from unimo.models.training.batches import InMemoryBatches
    from unimo.pipelines.token_loader import load_tokens, ray_token_dataset
    from unimo.platform import ray_session

    root = tempfile.mkdtemp(prefix="bench_tokens_")
    tokens = write_shards(root, args.clips)
    ray_session.connect()

    def baseline():
        pq.read_table(f"{root}/tokens", columns=["video_tokens", "motion_tokens"])

    def direct():
        _, arrays = load_tokens(root, side_info=False)  # the columns the baseline reads
        for _ in InMemoryBatches(arrays, 0).epoch(64, 0):
            pass

    def ray_data():
        for _ in ray_token_dataset(root).iter_batches(batch_size=64):
            pass

    ray_data()  # warm-up: Ray's workers start
    times = {"pyarrow read_table (baseline)": [], "direct reader + batches": [], "Ray Data iter_batches": []}
    for _ in range(args.rounds):
        for (name, fn) in zip(times, (baseline, direct, ray_data)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["pyarrow read_table (baseline)"])
    print(f"{args.clips} clips, {tokens / 1e6:.1f} M tokens in 8 files; medians of {args.rounds} alternating rounds\n")
    print("| reader | seconds | M tokens/s | vs pyarrow read |\n| --- | --- | --- | --- |")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {m:.3f} | {tokens / m / 1e6:.1f} | {base / m:.2f}x |")


if __name__ == "__main__":
    main()
