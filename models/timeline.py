"""Latent time: how many latent frames a clip has, and how many frames a clip must have.
The one place that defines it; the video tokenizer, the motion tokenizer's alignment and
every token layout import it.

The video tokenizer is causal in time, like Cosmos: the first frame is encoded alone, then
every `t` frames make one latent frame. So a clip of T = 1 + t * k frames has
L = 1 + k latent frames, and an image is a one-frame clip (L = 1).

Motion gets `s` tokens per latent frame, the first (image-only) latent frame included:
its s tokens carry the motion of the clip's first frame (the motion tokenizer pads time to
a multiple of its stride, so frame 0's window is its first latent frame's). One count for
every latent frame keeps the token layout uniform: latent frame j always holds
h * w video tokens and s motion tokens, for I2VM, V2M and M2V alike.
"""

from __future__ import annotations

from unimo.platform.errors import UnimoError

TEMPORAL_FACTORS = (1, 2, 4, 8)


class ClipLengthError(UnimoError):
    """A clip whose frame count the video tokenizer cannot take."""


def latent_frames(frames: int, temporal_factor: int) -> int:
    """L(T) = 1 + (T - 1) / t; T must be 1 + a multiple of t."""
    if temporal_factor not in TEMPORAL_FACTORS:
        raise ClipLengthError(f"temporal factor must be one of {TEMPORAL_FACTORS}, got {temporal_factor}")
    if frames < 1 or (frames - 1) % temporal_factor:
        below = 1 + temporal_factor * max(0, (frames - 1) // temporal_factor)
        nearest = f"{below} or {below + temporal_factor}" if frames > 1 else "1"
        raise ClipLengthError(f"a clip of {frames} frames cannot be tokenized at {temporal_factor}x in time: it needs 1 + a multiple "
                              f"of {temporal_factor} frames (e.g. {nearest})")
    return 1 + (frames - 1) // temporal_factor


def clip_frames(latent: int, temporal_factor: int) -> int:
    """T(L) = 1 + t * (L - 1): the frames of a clip with `latent` latent frames."""
    return 1 + temporal_factor * (latent - 1)


def motion_tokens(latent: int, expansion: int) -> int:
    """Motion tokens of a clip: s per latent frame."""
    return latent * expansion
