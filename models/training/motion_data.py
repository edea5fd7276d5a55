"""Motion windows for training, as Ray Datasets, from either kind of dataset unimo writes:

- preprocessed shards (OUTPUT/manifest.json, clips/*.parquet): fitted SMPL pseudo-labels;
- a corpus (ROOT/corpus.json, labels/*.npz): ground-truth SMPL of synthetic or imported motion.

Every clip is cut into non-overlapping windows of `window` frames; a clip lands wholly in
the training or the validation split, by a hash of its id, so no window leaks across.
"""

from __future__ import annotations

import zlib

import numpy as np

from unimo.platform import storage
from unimo.platform.errors import UnimoError


class DataError(UnimoError):
    """A data path that holds neither shards nor a corpus, or too little to train on."""


def kind_of(url: str) -> str:
    from unimo.pipelines import corpus_format, shards

    if storage.exists(storage.join(url, shards.MANIFEST)):
        return "shards"
    if storage.exists(storage.join(url, corpus_format.MANIFEST)):
        return "corpus"
    raise DataError(f"data path '{url}' holds neither preprocessed shards ({shards.MANIFEST}) nor a corpus ({corpus_format.MANIFEST})")


def in_validation(clip_id: str, fraction: float) -> bool:
    return (zlib.crc32(clip_id.encode()) % 1000) < fraction * 1000


def _windows(poses, trans, betas, window: int) -> list[dict]:
    return [{"poses": poses[s : s + window].astype(np.float32), "trans": trans[s : s + window].astype(np.float32),
             "betas": betas.astype(np.float32)} for s in range(0, len(poses) - window + 1, window)]


def _corpus_clip(row: dict, window: int) -> list[dict]:
    from unimo.pipelines import corpus_format

    label = corpus_format.read_label(row["path"])
    return _windows(label["poses"], label["trans"], label["betas"], window)


def _shard_clip(row: dict, window: int) -> list[dict]:
    from unimo.pipelines import shards

    return _windows(shards.array(row, "poses"), shards.array(row, "trans"), shards.array(row, "betas"), window)


def motion_datasets(url: str, window: int, val_fraction: float = 0.1):
    """(train, validation) Ray Datasets of windows {poses (W, 72), trans (W, 3), betas (10,)}."""
    import ray

    from unimo.pipelines import corpus_format, shards

    url = storage.resolve(url)
    kind = kind_of(url)
    if kind == "corpus":
        ids = corpus_format.CorpusManifest.read(url).clip_ids
        items = [{"clip_id": c, "path": corpus_format.label_path(url, c)} for c in ids]
        parts = [ray.data.from_items([i for i in items if in_validation(i["clip_id"], val_fraction) == v]) for v in (False, True)]
        fn = _corpus_clip
    else:
        fs, path = storage.pyarrow_filesystem(storage.join(url, shards.CLIPS))
        table = ray.data.read_parquet(path, filesystem=fs, columns=["clip_id", "num_frames", "poses", "trans", "betas"])
        parts = [table.filter(lambda r, v=v: in_validation(r["clip_id"], val_fraction) == v) for v in (False, True)]
        fn = _shard_clip
    return tuple(p.flat_map(fn, fn_kwargs={"window": window}) for p in parts)


def feature_stats(url: str, max_clips: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the motion features: from the shard manifest, or computed over the
    corpus's labels (up to `max_clips`)."""
    import torch

    from unimo.models.motion_features import to_features
    from unimo.pipelines import corpus_format, shards

    url = storage.resolve(url)
    if kind_of(url) == "shards":
        stats = shards.Manifest.read(url).stats
        return np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)
    feats = []
    for cid in corpus_format.CorpusManifest.read(url).clip_ids[:max_clips]:
        label = corpus_format.read_label(corpus_format.label_path(url, cid))
        feats.append(to_features(torch.from_numpy(label["poses"]), torch.from_numpy(label["trans"]), torch.from_numpy(label["betas"])).numpy())
    allf = np.concatenate(feats)
    return allf.mean(0).astype(np.float32), allf.std(0).astype(np.float32)
