"""What the UniMo stage reads: token shards (`unimo.pipelines.token_shards`), split into
training and validation by source video (a window never lands on both sides of the split),
and which tokenizers made them.

A checkpoint remembers the token shards it was trained on (`TokenSource`); shards written by
other tokenizers, or in another grid, are refused in one line rather than read as if their
ids meant the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unimo.models.training.data import DataError, in_validation
from unimo.models.unimo.layout import TokenGrid
from unimo.pipelines import token_shards
from unimo.pipelines.token_loader import load_tokens
from unimo.platform.config import option

TRAINING_KEYS = ("video_tokens", "motion_tokens")


@dataclass
class TokenSource:
    """The token shards' identity (filled from their manifest when training starts)."""

    video_tokenizer: str = option("", help="(from the token shards) the video tokenizer that wrote them")
    motion_tokenizer: str = option("", help="(from the token shards) the motion tokenizer that wrote them")
    video_codes: int = option(0, help="(from the token shards) video codebook size")
    motion_codes: int = option(0, help="(from the token shards) motion codebook size")
    latent_frames: int = option(0, help="(from the token shards) L")
    grid: list[int] = option([0, 0], help="(from the token shards) [h, w]")
    motion_per_latent: int = option(0, help="(from the token shards) s")
    frames: int = option(0, help="(from the token shards) T")
    fps: float = option(0.0, help="(from the token shards) frames per second")

    @classmethod
    def of(cls, manifest: token_shards.TokenManifest) -> "TokenSource":
        return cls(video_tokenizer=str(manifest.video_tokenizer.get("source", "")),
                   motion_tokenizer=str(manifest.motion_tokenizer.get("source", "")),
                   video_codes=int(manifest.video_tokenizer["codebook_size"]), motion_codes=int(manifest.motion_tokenizer["codebook_size"]),
                   latent_frames=manifest.latent_frames, grid=list(manifest.grid), motion_per_latent=manifest.motion_tokens_per_latent,
                   frames=manifest.frames, fps=manifest.fps)

    @property
    def token_grid(self) -> TokenGrid:
        return TokenGrid(self.latent_frames, self.grid[0], self.grid[1], self.motion_per_latent)

    def check_matches(self, other: "TokenSource", where: str) -> None:
        """One line naming the first thing on which `other` (token shards at `where`) differs."""
        for name in ("video_tokenizer", "motion_tokenizer", "video_codes", "motion_codes", "latent_frames", "grid", "motion_per_latent"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if name.endswith("tokenizer"):  # one checkpoint, however its path was spelled
                mine, theirs = token_shards.lasting_source(mine), token_shards.lasting_source(theirs)
            if mine != theirs:
                raise token_shards.TokenShardError(f"token shards '{where}' do not match the model: their {name.replace('_', ' ')} is "
                                                   f"{theirs!r}, the model was trained on {mine!r} (pretokenize with the same tokenizers)")


def load_split(root: str, val_fraction: float, val_limit: int | None = None
               ) -> tuple[TokenSource, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(source, training arrays, validation arrays) of the token shards under `root`, each
    {video_tokens (N, L, h, w), motion_tokens (N, L, s)}, split by source video."""
    manifest, arrays = load_tokens(root, side_info=False, sources=True)
    if not manifest.clips:
        raise DataError(f"token shards '{root}' hold no clips ({manifest.errors} inputs failed; see their errors/ table)")
    arrays.pop("start_frame")
    val = np.array([in_validation(s, val_fraction) for s in arrays.pop("source")], dtype=bool)
    train_arrays = {k: v[~val] for k, v in arrays.items()}
    val_arrays = {k: v[val][:val_limit] for k, v in arrays.items()}
    return TokenSource.of(manifest), train_arrays, val_arrays


def ray_dataset(arrays: dict[str, np.ndarray]):
    """In-memory token arrays as a Ray Dataset of fixed-shape tensor columns (the ray runner's input)."""
    import pyarrow as pa
    import ray
    from ray.data.extensions import ArrowTensorArray

    return ray.data.from_arrow(pa.table({k: ArrowTensorArray.from_numpy(v) for k, v in arrays.items()}))
