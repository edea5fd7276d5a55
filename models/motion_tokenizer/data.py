"""Motion windows for training, from either kind of dataset unimo writes:

- preprocessed shards (OUTPUT/manifest.json, clips/*.parquet): fitted SMPL pseudo-labels,
  their gravity-aligned motion (`shards.MOTION_COLUMNS`), never the camera-frame fit;
- a corpus (ROOT/corpus.json, labels/*.npz): ground-truth SMPL of synthetic or imported motion.

Both are in the same world frame (y up, ground at y = 0), so they train together.

Several sources train together when given comma-separated (for example procedural motion
and a corpus imported from mocap). Every clip is cut into non-overlapping windows of
`window` frames; a clip lands wholly in the training or the validation split, by a hash of
its id (see `unimo.models.training.data`), so no window leaks across.
"""

from __future__ import annotations

import numpy as np

from unimo.models.training.data import ExampleSource, data_urls, kind_of, plain_arrays, ray_datasets
from unimo.platform import storage


def _windows(poses, trans, betas, window: int) -> list[dict]:
    return [{"poses": poses[s : s + window].astype(np.float32), "trans": trans[s : s + window].astype(np.float32),
             "betas": betas.astype(np.float32)} for s in range(0, len(poses) - window + 1, window)]


def corpus_clip_windows(row: dict, window: int) -> list[dict]:
    from unimo.pipelines import corpus_format

    label = corpus_format.read_label(row["path"])
    return _windows(label["poses"], label["trans"], label["betas"], window)


def shard_clip_windows(row: dict, window: int) -> list[dict]:
    from unimo.pipelines import shards

    return _windows(*shards.motion(row).values(), window)


def window_sources(spec: str, window: int) -> list[ExampleSource]:
    """Every source in `spec` as rows of clips and how each becomes windows
    {poses (W, 72), trans (W, 3), betas (10,)}."""
    from unimo.pipelines import corpus_format, shards

    sources = []
    for url in data_urls(spec):
        if kind_of(url) == "corpus":
            rows = [{"clip_id": c, "path": corpus_format.label_path(url, c)} for c in corpus_format.CorpusManifest.read(url).clip_ids]
            sources.append(ExampleSource(corpus_clip_windows, {"window": window}, rows=rows))
        else:
            shards.Manifest.read(url)  # shards of another schema are refused here, in one line
            sources.append(ExampleSource(shard_clip_windows, {"window": window}, parquet=storage.join(url, shards.CLIPS),
                                         columns=["clip_id", "num_frames", *shards.MOTION_COLUMNS]))
    return sources


def motion_datasets(spec: str, window: int, val_fraction: float = 0.1):
    """(train, validation) Ray Datasets of windows over every source in `spec`."""
    return ray_datasets(window_sources(spec, window), val_fraction)


def motion_arrays(spec: str, window: int, val_fraction: float = 0.1, val_limit: int | None = None, progress: bool = False):
    """(train, validation) windows over every source in `spec` as numpy arrays, read
    without Ray: the same windows, split the same way, as `motion_datasets`."""
    sources = window_sources(spec, window)
    return (plain_arrays(sources, val_fraction, validation=False, progress=progress),
            plain_arrays(sources, val_fraction, validation=True, limit=val_limit))


def feature_stats(spec: str, max_clips: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the motion features over every source in `spec`, weighted by frames:
    from a shard manifest, or computed over a corpus's labels (up to `max_clips`)."""
    moments = [_source_moments(url, max_clips) for url in data_urls(spec)]
    frames = sum(n for n, _, _ in moments)
    mean = sum(n * m for n, m, _ in moments) / frames
    second = sum(n * (s**2 + m**2) for n, m, s in moments) / frames
    return mean.astype(np.float32), np.sqrt(np.maximum(second - mean**2, 0)).astype(np.float32)


def _source_moments(url: str, max_clips: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(frames, mean, std) of one source's motion features."""
    import torch

    from unimo.pipelines import corpus_format, shards
    from unimo.platform.motion_features import to_features

    if kind_of(url) == "shards":
        stats = shards.Manifest.read(url).stats
        return int(stats["frames"]), np.asarray(stats["mean"], np.float64), np.asarray(stats["std"], np.float64)
    feats = []
    for cid in corpus_format.CorpusManifest.read(url).clip_ids[:max_clips]:
        label = corpus_format.read_label(corpus_format.label_path(url, cid))
        feats.append(to_features(torch.from_numpy(label["poses"]), torch.from_numpy(label["trans"]), torch.from_numpy(label["betas"])).numpy())
    allf = np.concatenate(feats).astype(np.float64)
    return len(allf), allf.mean(0), allf.std(0)
