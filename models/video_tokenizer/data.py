"""Video clips for the video tokenizer, from either kind of dataset unimo writes:

- preprocessed shards (OUTPUT/clips/*.parquet): each window's frames, stored as mp4 bytes;
- a corpus with videos (ROOT/videos/<clip id>.mp4).

Each video is decoded with PyAV, resized to `size` x `size` (area filter, after a centre
crop to a square) and cut into non-overlapping clips of `frames` frames, which must be a
length the tokenizer takes (1 + t * k, see `unimo.models.timeline`). A video lands wholly
in training or validation by a hash of its id. Examples are `video`, uint8 (T, size, size,
3), and `body`, uint8 (T, size, size): where the person is, 0-255, drawn from the clip's 2D
keypoints (`body_mask`), for the body-weighted loss and the body's PSNR.
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.training.data import DataError, data_urls, kind_of
from unimo.models.training.data import ExampleSource, plain_arrays, ray_datasets, stack
from unimo.models.video_tokenizer.body_mask import body_mask
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


def resize_keypoints(keypoints: np.ndarray, height: int, width: int, size: int) -> np.ndarray:
    """(..., 2) pixels (x, y) of an H x W frame -> pixels of its `resize_square` image."""
    side = min(height, width)
    offset = np.array([(width - side) // 2, (height - side) // 2], np.float32)
    return (np.asarray(keypoints, np.float32) - offset) * (size / side)


def cut_clips(frames: np.ndarray, clip_frames: int, size: int, keypoints: np.ndarray | None = None,
              confidence: np.ndarray | None = None) -> list[dict]:
    """Clips of `frames` (T, H, W, 3); with the frames' 2D keypoints (T, 24, 2), each with its body mask."""
    video = resize_square(frames, size)
    if keypoints is None:
        return [{"video": video[s : s + clip_frames]} for s in range(0, len(video) - clip_frames + 1, clip_frames)]
    n = min(len(video), len(keypoints))
    points = resize_keypoints(keypoints[:n], frames.shape[1], frames.shape[2], size)
    body = (body_mask(points, size, size, None if confidence is None else confidence[:n]) * 255).round().astype(np.uint8)
    return [{"video": video[s : s + clip_frames], "body": body[s : s + clip_frames]} for s in range(0, n - clip_frames + 1, clip_frames)]


def corpus_video_clips(row: dict, clip_frames: int, size: int) -> list[dict]:
    from unimo.pipelines import corpus_format, video_io

    frames, _ = video_io.decode(storage.read_bytes(row["path"]), name=row["path"])
    # a corpus's keypoints are exact projections, occluded joints too: all of them draw the body
    return cut_clips(frames, clip_frames, size, corpus_format.read_label(row["label"])["keypoints2d"])


def shard_video_clips(row: dict, clip_frames: int, size: int) -> list[dict]:
    from unimo.pipelines import shards, video_io

    frames, _ = video_io.decode(row["frames_mp4"], name=row["clip_id"])
    return cut_clips(frames, clip_frames, size, shards.array(row, "keypoints2d"), shards.array(row, "keypoint_conf"))


def clip_sources(spec: str, clip_frames: int, size: int) -> list[ExampleSource]:
    from unimo.pipelines import corpus_format, shards

    sources, kwargs = [], {"clip_frames": clip_frames, "size": size}
    for url in data_urls(spec):
        if kind_of(url) == "corpus":
            manifest = corpus_format.CorpusManifest.read(url)
            if not manifest.videos:
                raise DataError(f"corpus '{url}' holds motion only (made with --videos false): the video tokenizer needs videos")
            rows = [{"clip_id": c, "path": corpus_format.video_path(url, c), "label": corpus_format.label_path(url, c)}
                    for c in manifest.clip_ids]
            sources.append(ExampleSource(corpus_video_clips, kwargs, rows=rows))
        else:
            sources.append(ExampleSource(shard_video_clips, kwargs, parquet=storage.join(url, shards.CLIPS),
                                         columns=["clip_id", "num_frames", "frames_mp4", "keypoints2d", "keypoint_conf"]))
    return sources


def video_datasets(spec: str, clip_frames: int, size: int, val_fraction: float = 0.1):
    return ray_datasets(clip_sources(spec, clip_frames, size), val_fraction)


def video_arrays(spec: str, clip_frames: int, size: int, val_fraction: float = 0.1, val_limit: int | None = None,
                 progress: bool = False):
    sources = clip_sources(spec, clip_frames, size)
    return (plain_arrays(sources, val_fraction, validation=False, progress=progress),
            plain_arrays(sources, val_fraction, validation=True, limit=val_limit))


def rendered_arrays(videos: int, video_frames: int, clip_frames: int, size: int, seed: int, workers: int = 0,
                    progress: bool = False) -> dict[str, np.ndarray]:
    """The clips of a procedural corpus (`videos` videos of `video_frames` frames, this
    seed) rendered in memory and never encoded: the data of a box without PyAV or Ray (the
    GPU check). The frames are those `make_corpus.py` would encode, so they lack H.264's
    losses. `workers` > 1 renders in that many local processes."""
    import functools

    from unimo.pipelines.corpus import local_pool
    from unimo.platform.console import progress as progress_bar

    cfg = {"clips": videos, "frames": video_frames, "size": max(size, 64), "seed": seed}
    one = functools.partial(_rendered_clip_examples, cfg, clip_frames=clip_frames, size=size)
    examples: list[dict] = []
    with progress_bar(total=videos, desc=f"rendering videos (seed {seed})", unit="video", disable=not progress) as bar:
        if workers > 1:
            with local_pool(workers) as pool:
                for clips in pool.map(one, range(videos), chunksize=4):
                    examples += clips
                    bar.update()
        else:
            for index in range(videos):
                examples += one(index)
                bar.update()
    return stack(examples)


def _rendered_clip_examples(cfg: dict, index: int, clip_frames: int, size: int) -> list[dict]:
    from unimo.pipelines.corpus import CorpusConfig, rendered_clip

    _, clip = rendered_clip(CorpusConfig(**cfg), index)
    return cut_clips(clip.frames, clip_frames, size, clip.keypoints2d)


def to_model_input(video: torch.Tensor) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) -> float (B, 3, T, H, W) in [-1, 1], the tokenizer's input."""
    return video.permute(0, 4, 1, 2, 3).float() / 127.5 - 1


def to_uint8(clip: torch.Tensor) -> np.ndarray:
    """(B, 3, T, H, W) in [-1, 1] -> uint8 (B, T, H, W, 3)."""
    return ((clip.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).cpu().numpy()
