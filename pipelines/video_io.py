"""Video encode and decode with PyAV, through the storage layer.

H.264 (libx264) in mp4, yuv420p so every player opens it. Encoding is single-threaded: x264
then gives the same bytes for the same frames on every machine, and Ray parallelises
across clips instead.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from unimo.platform.errors import UnimoError


class VideoError(UnimoError):
    """A video that cannot be decoded: empty, truncated, not a video, no video stream."""


def encode_mp4(frames: np.ndarray, fps: float, crf: int = 18) -> bytes:
    """(T, H, W, 3) uint8 RGB -> mp4 bytes. H and W must be even (yuv420p)."""
    T, H, W, _ = frames.shape
    if H % 2 or W % 2:
        raise ValueError(f"frame size {W}x{H} must be even for yuv420p")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def decode(source, name: str = "video") -> tuple[np.ndarray, float]:
    """mp4 (or any container PyAV reads) bytes or file object -> ((T, H, W, 3) uint8, fps)."""
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise VideoError(f"{name}: empty file")
        source = io.BytesIO(source)
    try:
        with av.open(source, mode="r") as container:
            if not container.streams.video:
                raise VideoError(f"{name}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except VideoError:
        raise
    except (av.FFmpegError, ValueError, OSError) as e:
        raise VideoError(f"{name}: cannot decode ({type(e).__name__}: {e})") from None
    if not frames:
        raise VideoError(f"{name}: no frames decoded")
    return np.stack(frames), fps
