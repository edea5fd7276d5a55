"""Token shards into training batches, for the autoregressive stage.

Two readers of the same files (`token_shards`):
- `load_tokens`: a direct pyarrow reader into contiguous numpy arrays, held in memory and
  batched by `InMemoryBatches`. Token shards are small (a 17-frame clip at 64 px is 320
  video and 10 motion ids, about 1.3 KB), so a million clips fit in memory.
- `ray_token_dataset`: the same rows as a Ray Dataset, for `trainer.runner=ray` when the
  shards are larger than a worker's memory.
`benchmarks/bench_token_loader.py` measures both against a plain pyarrow read.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unimo.pipelines import token_shards
from unimo.platform import storage


def _fixed(column: pa.ChunkedArray, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A list column whose lists all have prod(shape) items -> (N, *shape), without Python objects."""
    out = np.empty((len(column), int(np.prod(shape))), dtype)  # writable, filled with one copy of each chunk
    row = 0
    for chunk in column.chunks:
        values = chunk.flatten().to_numpy(zero_copy_only=False)  # a view of the list values (no nulls)
        out[row : row + len(chunk)] = values.reshape(len(chunk), -1)
        row += len(chunk)
    return out.reshape(len(column), *shape)


SIDE_INFO = ("motion_start", "motion_yaw", "betas")


def load_tokens(root: str, side_info: bool = True, sources: bool = False) -> tuple[token_shards.TokenManifest, dict[str, np.ndarray]]:
    """Every row of the token shards under `root`: {video_tokens (N, L, h, w) int32,
    motion_tokens (N, L, s) int32}; with `side_info`, {motion_start (N, 3),
    motion_yaw (N,), betas (N, 10)} (what detokenisation needs, not training); with
    `sources`, {source (N,), start_frame (N,)}: where each window came from."""
    root = storage.resolve(root)
    manifest = token_shards.TokenManifest.read(root)
    fs, path = storage.pyarrow_filesystem(storage.join(root, token_shards.TOKENS))
    columns = ["video_tokens", "motion_tokens", *(SIDE_INFO if side_info else ()), *(["source", "start_frame"] if sources else [])]
    table = pq.read_table(path, filesystem=fs, columns=columns)
    if table.num_rows != manifest.clips:
        raise token_shards.TokenShardError(f"'{root}' holds {table.num_rows} token rows, its manifest says {manifest.clips}")
    out = {"video_tokens": _fixed(table["video_tokens"], manifest.video_shape, np.int32),
           "motion_tokens": _fixed(table["motion_tokens"], manifest.motion_shape, np.int32)}
    if side_info:
        out.update(motion_start=_fixed(table["motion_start"], (3,), np.float32),
                   motion_yaw=table["motion_yaw"].to_numpy().astype(np.float32), betas=_fixed(table["betas"], (10,), np.float32))
    if sources:
        out["source"] = np.asarray(table["source"].to_pylist(), dtype=object)
        out["start_frame"] = table["start_frame"].to_numpy()
    return manifest, out


def ray_token_dataset(root: str):
    """The token rows as a Ray Dataset of fixed-shape arrays (the ray runner's reader)."""
    import ray

    root = storage.resolve(root)
    manifest = token_shards.TokenManifest.read(root)
    fs, path = storage.pyarrow_filesystem(storage.join(root, token_shards.TOKENS))

    def shape(batch: pa.Table) -> dict[str, np.ndarray]:
        return {"video_tokens": _fixed(batch["video_tokens"], manifest.video_shape, np.int32),
                "motion_tokens": _fixed(batch["motion_tokens"], manifest.motion_shape, np.int32)}

    ds = ray.data.read_parquet(path, filesystem=fs, columns=["video_tokens", "motion_tokens"])
    return ds.map_batches(shape, batch_format="pyarrow", batch_size=4096)
