"""Video clips for the video tokenizer, from either kind of dataset unimo writes:

- preprocessed shards (OUTPUT/clips/*.parquet): each window's frames, stored as mp4 bytes;
- a corpus with videos (ROOT/videos/<clip id>.mp4).

Each video is decoded with PyAV, resized to `size` x `size` (area filter, after a centre
crop to a square) and cut into non-overlapping clips of `frames` frames, which must be a
length the tokenizer takes (1 + t * k, see `unimo.models.timeline`). A video lands wholly
in training or validation by a hash of its id. Examples are uint8 (T, size, size, 3).
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.training.data import DataError, data_urls, kind_of
from unimo.models.training.data import ExampleSource, plain_arrays, ray_datasets
from unimo.platform import storage


def resize_square(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3): centre crop to a square, then area resize."""
    T, H, W, _ = frames.shape
    side = min(H, W)
    top, left = (H - side) // 2, (W - side) // 2
    x = torch.from_numpy(np.ascontiguousarray(frames[:, top : top + side, left : left + side])).permute(0, 3, 1, 2).float()
    if side != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="area")
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()


def cut_clips(frames: np.ndarray, clip_frames: int, size: int) -> list[dict]:
    video = resize_square(frames, size)
    return [{"video": video[s : s + clip_frames]} for s in range(0, len(video) - clip_frames + 1, clip_frames)]


def corpus_video_clips(row: dict, clip_frames: int, size: int) -> list[dict]:
    from unimo.pipelines import video_io

    frames, _ = video_io.decode(storage.read_bytes(row["path"]), name=row["path"])
    return cut_clips(frames, clip_frames, size)


def shard_video_clips(row: dict, clip_frames: int, size: int) -> list[dict]:
    from unimo.pipelines import video_io

    frames, _ = video_io.decode(row["frames_mp4"], name=row["clip_id"])
    return cut_clips(frames, clip_frames, size)


def clip_sources(spec: str, clip_frames: int, size: int) -> list[ExampleSource]:
    from unimo.pipelines import corpus_format, shards

    sources, kwargs = [], {"clip_frames": clip_frames, "size": size}
    for url in data_urls(spec):
        if kind_of(url) == "corpus":
            manifest = corpus_format.CorpusManifest.read(url)
            if not manifest.videos:
                raise DataError(f"corpus '{url}' holds motion only (made with --videos false): the video tokenizer needs videos")
            rows = [{"clip_id": c, "path": corpus_format.video_path(url, c)} for c in manifest.clip_ids]
            sources.append(ExampleSource(corpus_video_clips, kwargs, rows=rows))
        else:
            sources.append(ExampleSource(shard_video_clips, kwargs, parquet=storage.join(url, shards.CLIPS),
                                         columns=["clip_id", "frames_mp4"]))
    return sources


def video_datasets(spec: str, clip_frames: int, size: int, val_fraction: float = 0.1):
    return ray_datasets(clip_sources(spec, clip_frames, size), val_fraction)


def video_arrays(spec: str, clip_frames: int, size: int, val_fraction: float = 0.1, val_limit: int | None = None,
                 progress: bool = False):
    sources = clip_sources(spec, clip_frames, size)
    return (plain_arrays(sources, val_fraction, validation=False, progress=progress),
            plain_arrays(sources, val_fraction, validation=True, limit=val_limit))


def to_model_input(video: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1], the tokenizer's input."""
    return video.permute(0, 4, 1, 2, 3).float() / 127.5 - 1


def to_uint8(clip: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3)."""
    return ((clip.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).cpu().numpy()
