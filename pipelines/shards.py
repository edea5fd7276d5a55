"""The preprocessed dataset: Parquet shards of clip windows, an errors table and a manifest.
Every reader and writer of this format imports it from here.

    OUTPUT/
      clips/*.parquet     one row per clip window (CLIP_SCHEMA)
      errors/*.parquet    one row per input that failed (ERROR_SCHEMA)
      manifest.json       Manifest: schema version, counts, config hash, code version,
                          normalisation statistics of the motion features
      _ledger/<run>.json  inputs each committed run processed (for resume)

Frames are stored as one H.264 mp4 per window (`frames_mp4`): about 50x smaller than raw
RGB, and decoded at thousands of frames a second per core, far faster than training reads
them; per-frame JPEG would allow random access to single frames, which no stage needs.
Arrays are stored as flat float32 lists with their shapes implied by `num_frames`, so
pyarrow, pandas and DuckDB read the shards without unimo.

Two frames hold the same fitted motion. The fit itself is in the camera's frame (`poses`,
`trans`: for drawing the body over the frames only). The motion frame for learning is the
gravity-aligned one (MOTION_COLUMNS: y up, metres, soles on y = 0, heading from the camera's
view; see pipelines/gravity.py), the frame of corpus labels too, so shards and corpora train
together without mixing frames. `world_from_camera` maps one to the other, and
`gravity_source` says whether gravity came from the labels' camera or was estimated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pyarrow as pa

from unimo.platform import storage
from unimo.platform.errors import UnimoError

SCHEMA_VERSION = 2  # 2: the gravity-aligned motion (world_*) beside the camera-frame fit
CLIPS, ERRORS, LEDGER, STAGING = "clips", "errors", "_ledger", "_staging"
MANIFEST = "manifest.json"

_f32 = pa.list_(pa.float32())
CLIP_SCHEMA = pa.schema([
    ("clip_id", pa.string()),           # <source stem>-<start frame>
    ("source", pa.string()),            # input video URL
    ("source_size", pa.int64()),
    ("source_mtime", pa.string()),
    ("start_frame", pa.int32()),        # first frame of the window, at the output fps
    ("num_frames", pa.int32()),         # T
    ("fps", pa.float32()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("frames_mp4", pa.binary()),        # the window's frames, H.264
    ("poses", _f32),                    # T x 72 axis-angle, camera frame (overlays only)
    ("trans", _f32),                    # T x 3 metres, camera frame (overlays only)
    ("betas", _f32),                    # 10
    ("world_poses", _f32),              # T x 72 axis-angle, gravity-aligned frame (for learning)
    ("world_trans", _f32),              # T x 3 metres, gravity-aligned frame (for learning)
    ("world_from_camera", _f32),        # T x 3 x 4: x_world = M[:, :3] @ x_cam + M[:, 3]
    ("gravity_source", pa.string()),    # "labels" (exact, the label's camera) or "estimated"
    ("K", _f32),                        # 3 x 3 intrinsics of the stored frames
    ("keypoints2d", _f32),              # T x 24 x 2 pixels (input to the fit)
    ("keypoint_conf", _f32),            # T x 24 visibility or detector confidence
    ("keypoint_source", pa.string()),   # "labels" or the detector's name
    ("fit_residual_px", _f32),          # T: mean reprojection error of the fit
    ("fit_converged", pa.bool_()),
])
ERROR_SCHEMA = pa.schema([
    ("source", pa.string()),
    ("stage", pa.string()),             # discover, decode, keypoints, fit
    ("error_class", pa.string()),
    ("message", pa.string()),
    ("source_size", pa.int64()),
    ("source_mtime", pa.string()),
])

# Shapes of the array columns, per frame (None: per window).
ARRAY_SHAPES = {"poses": (72,), "trans": (3,), "betas": None, "world_poses": (72,), "world_trans": (3,),
                "world_from_camera": (3, 4), "K": None, "keypoints2d": (24, 2), "keypoint_conf": (24,), "fit_residual_px": ()}

# The motion frame for learning: what every reader of shard motion (training windows, the
# manifest's statistics, pre-tokenization) takes, as (poses, trans, betas).
MOTION_COLUMNS = ("world_poses", "world_trans", "betas")


def array(row: dict, column: str) -> np.ndarray:
    """A row's array column with its shape: (T, ...) per frame, or as stored per window."""
    flat = np.asarray(row[column], dtype=np.float32)
    shape = ARRAY_SHAPES[column]
    if column == "K":
        return flat.reshape(3, 3)
    if shape is None:
        return flat
    return flat.reshape(int(row["num_frames"]), *shape)


def motion(row: dict) -> dict[str, np.ndarray]:
    """A row's motion for learning, {poses (T, 72), trans (T, 3), betas (10,)}: the
    gravity-aligned frame, the one corpus labels use."""
    return {key: array(row, column) for key, column in zip(("poses", "trans", "betas"), MOTION_COLUMNS)}


@dataclass
class Manifest:
    clips: int
    frames: int
    errors: int
    inputs: int
    config_hash: str
    code_version: str
    runs: list[str] = field(default_factory=list)
    # mean and std of the motion features (of MOTION_COLUMNS) over every frame
    stats: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def write(self, root: str) -> None:
        storage.write_json(storage.join(root, MANIFEST), asdict(self))

    @classmethod
    def read(cls, root: str) -> "Manifest":
        data = storage.read_json(storage.join(root, MANIFEST))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise UnimoError(f"'{root}' has shard schema {data.get('schema_version')}, this code reads {SCHEMA_VERSION}")
        return cls(**data)
