"""Pre-tokenized token shards: what the autoregressive stage reads, and nothing else (no
video decoding, no tokenizer in its loop). Every reader and writer imports this module.

    OUTPUT/
      tokens/*.parquet    one row per clip window (TOKEN_SCHEMA)
      errors/*.parquet    one row per input that failed (the preprocessing ERROR_SCHEMA)
      manifest.json       TokenManifest: both tokenizers, vocabularies, L, s, grid, fps, counts
      _ledger/<run>.json  inputs each committed run processed (for resume)

Token ids are stored flat (int32); their shapes come from the manifest: a row's
`video_tokens` is L x h x w, `motion_tokens` L x s. Motion is tokenized in the
gravity-aligned (y-up) frame the motion tokenizer trains on; where it starts and which way
it faces (`motion_start`, `motion_yaw`) and the body shape (`betas`) are the side
information detokenisation needs.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from unimo.pipelines.shards import ERRORS, LEDGER, STAGING  # noqa: F401 - the run ledger's folders (`run_ledger`), as preprocessing's
from unimo.platform import storage
from unimo.platform.errors import UnimoError

SCHEMA_VERSION = 1
TOKENS = "tokens"
MANIFEST = "manifest.json"

TOKEN_SCHEMA = pa.schema([
    ("clip_id", pa.string()),            # <source clip>-<start frame>
    ("source", pa.string()),             # the input this window came from: a video URL, or <video URL>#<shard clip id>
    ("start_frame", pa.int32()),         # first frame of the window in its source (the video, or the shard window)
    ("num_frames", pa.int32()),          # T = 1 + t * (L - 1)
    ("video_tokens", pa.list_(pa.int32())),   # L x h x w
    ("motion_tokens", pa.list_(pa.int32())),  # L x s
    ("motion_start", pa.list_(pa.float32())),  # 3: root translation of the first frame, metres, y up
    ("motion_yaw", pa.float32()),        # heading of the first frame, radians about +y
    ("betas", pa.list_(pa.float32())),   # 10
])


class TokenShardError(UnimoError):
    """Token shards that are missing, of another schema, or disagree with their manifest."""


def lasting_source(source: str) -> str:
    """A tokenizer source as a manifest keeps it: a local path made absolute, so a model
    trained on the tokens finds its tokenizers from any working directory (and two
    spellings of one path compare equal)."""
    prefix, path = ("cosmos:", source[len("cosmos:") :]) if source.startswith("cosmos:") else ("", source)
    return prefix + os.path.abspath(path) if os.path.exists(path) else source


@dataclass
class TokenManifest:
    video_tokenizer: dict  # {"source": checkpoint path, run id or cosmos:PATH, "codebook_size", "temporal_factor", "spatial_factor"}
    motion_tokenizer: dict  # {"source", "codebook_size", "expansion", "temporal_stride"}
    latent_frames: int  # L
    motion_tokens_per_latent: int  # s
    grid: list[int]  # [h, w]
    frames: int  # T per window
    size: int  # frame side, pixels
    fps: float
    clips: int = 0
    errors: int = 0
    inputs: int = 0
    runs: list[str] = field(default_factory=list)
    code_version: str = "unknown"
    schema_version: int = SCHEMA_VERSION

    @property
    def video_shape(self) -> tuple[int, int, int]:
        return (self.latent_frames, *self.grid)

    @property
    def motion_shape(self) -> tuple[int, int]:
        return (self.latent_frames, self.motion_tokens_per_latent)

    def write(self, root: str) -> None:
        storage.write_json(storage.join(root, MANIFEST), asdict(self))

    @classmethod
    def read(cls, root: str) -> "TokenManifest":
        path = storage.join(root, MANIFEST)
        if not storage.exists(path):
            raise TokenShardError(f"'{root}' holds no token shards ({MANIFEST} missing; write them with jobs/pretokenize.py)")
        data = storage.read_json(path)
        if data.get("schema_version") != SCHEMA_VERSION:
            raise TokenShardError(f"'{root}' has token schema {data.get('schema_version')}, this code reads {SCHEMA_VERSION}")
        return cls(**data)


def video_tokens(row: dict, manifest: TokenManifest) -> np.ndarray:
    return np.asarray(row["video_tokens"], np.int64).reshape(manifest.video_shape)


def motion_tokens(row: dict, manifest: TokenManifest) -> np.ndarray:
    return np.asarray(row["motion_tokens"], np.int64).reshape(manifest.motion_shape)
