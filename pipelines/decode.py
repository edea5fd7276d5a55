"""Finding videos and decoding them into fixed-length windows with PyAV.

One input video becomes several windows (one row each, never one row per frame): frames
are resampled to the target fps by picking the nearest source frame, scaled so the short
side is `size` (swscale, inside PyAV) and centre-cropped square. Only the frames kept are
converted to RGB, so downsampling a 60 fps video costs about half the conversions, and
scaling happens in the same swscale pass as the colour conversion. One VideoReformatter
serves a whole video: `frame.to_ndarray(width=...)` builds a new swscale context for every
frame, which costs more than decoding it (docs/benchmarks.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import Interpolation, VideoReformatter

from unimo.pipelines.video_io import VideoError
from unimo.platform import storage
from unimo.platform.config import option
from unimo.platform.errors import UnimoError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")


class NoVideosError(UnimoError):
    """An input URL with nothing to preprocess."""


@dataclass
class DecodeConfig:
    fps: float = option(30.0, help="output frame rate")
    size: int = option(128, help="output frames are size x size (short side scaled, centre crop)")
    window: int = option(32, help="frames per window")
    stride: int = option(32, help="frames between window starts")
    min_window: int = option(8, help="a video shorter than one window still gives one window if it has this many frames")


@dataclass
class Crop:
    """How source pixels map to output pixels: out = (src * scale) - offset."""

    scale: float
    offset_x: float
    offset_y: float

    def apply_points(self, uv: np.ndarray) -> np.ndarray:
        return uv * self.scale - np.array([self.offset_x, self.offset_y], dtype=np.float32)

    def apply_K(self, K: np.ndarray) -> np.ndarray:
        S = np.array([[self.scale, 0, -self.offset_x], [0, self.scale, -self.offset_y], [0, 0, 1]])
        return (S @ K).astype(np.float32)


def discover(url: str) -> list[dict]:
    """Every video under a folder URL, a glob, a single file, or listed one URL a line in a
    .txt file: rows of (source, source_size, source_mtime). A listed URL that cannot be
    read is kept (size and mtime None): its decode fails and lands in the errors table."""
    if url.endswith(".txt"):
        videos = [line.strip() for line in storage.read_text(url).splitlines() if line.strip() and not line.startswith("#")]
    else:
        files = storage.glob(url) if any(c in url for c in "*?[") else storage.find(url)
        videos = [f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    if not videos:  # a wrong folder or a stray file: say so, rather than finish with nothing
        raise NoVideosError(f"input '{url}' holds no videos: looked for {' '.join('*' + e for e in VIDEO_EXTENSIONS)} "
                            "files (in a folder and its subfolders, matching a glob, or one URL a line in a .txt file)")
    rows = []
    for v in videos:
        try:
            meta = storage.info(v)
        except Exception:  # noqa: BLE001 - unreadable: recorded by the decode stage
            meta = {"size": None, "mtime": None}
        rows.append({"source": v, "source_size": meta["size"], "source_mtime": meta["mtime"]})
    return rows


def decode_resampled(data: bytes, name: str, cfg: DecodeConfig) -> tuple[np.ndarray, np.ndarray, Crop]:
    """Video bytes -> (frames (N, size, size, 3) uint8, source frame index of each, crop)."""
    import io

    if not data:
        raise VideoError(f"{name}: empty file")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise VideoError(f"{name}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            src_fps = float(stream.average_rate or stream.guessed_rate or 0) or cfg.fps
            w, h = stream.codec_context.width, stream.codec_context.height
            if not w or not h:
                raise VideoError(f"{name}: video stream has no frame size")
            scale = cfg.size / min(w, h)
            sw, sh = max(cfg.size, round(w * scale)), max(cfg.size, round(h * scale))
            crop = Crop(scale=sw / w, offset_x=(sw - cfg.size) // 2, offset_y=(sh - cfg.size) // 2)
            frames, index = [], []
            reformatter = VideoReformatter()
            next_t = 0.0  # time of the next output frame, in source frames
            step = src_fps / cfg.fps
            for i, frame in enumerate(container.decode(stream)):
                while i + 0.5 > next_t:  # this source frame is the nearest to the next output time
                    # AREA: the right filter for shrinking (it averages, no aliasing) and
                    # swscale's cheapest one that does so
                    rgb = reformatter.reformat(frame, width=sw, height=sh, format="rgb24",
                                               interpolation=Interpolation.AREA).to_ndarray()
                    frames.append(rgb[crop.offset_y : crop.offset_y + cfg.size, crop.offset_x : crop.offset_x + cfg.size])
                    index.append(i)
                    next_t += step
    except VideoError:
        raise
    except (av.FFmpegError, ValueError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{name}: cannot decode ({type(e).__name__}: {e})") from None
    if not frames:
        raise VideoError(f"{name}: no frames decoded")
    return np.stack(frames), np.asarray(index), crop


def windows(n: int, cfg: DecodeConfig) -> list[tuple[int, int]]:
    """(start, length) of each window over n frames."""
    if n < cfg.window:
        return [(0, n)] if n >= cfg.min_window else []
    return [(s, cfg.window) for s in range(0, n - cfg.window + 1, cfg.stride)]


def sidecar_label_path(source: str) -> str | None:
    """labels/<stem>.npz beside the videos/ folder (the corpus layout), if the input has it."""
    parent = os.path.dirname(source)
    if os.path.basename(parent) != "videos":
        return None
    stem = os.path.splitext(os.path.basename(source))[0]
    candidate = storage.join(os.path.dirname(parent), "labels", f"{stem}.npz") if storage.is_local(source) else \
        f"{parent.rsplit('/', 1)[0]}/labels/{stem}.npz"
    return candidate if storage.exists(candidate) else None
