"""The corpus layout: videos with per-clip SMPL labels beside them. One definition, used by
the corpus generator, the preprocessing pipeline and anyone supplying their own data.

    ROOT/
      corpus.json              manifest (CorpusManifest)
      videos/<clip_id>.mp4     the video
      labels/<clip_id>.npz     the labels (LABEL_KEYS), frame-aligned with the video

A user with real video and ground truth (or their own pseudo-labels) writes the same
layout; `labels/` is optional for inputs that only have videos. A motion-only corpus
(`CorpusManifest.videos` false: enough to train a motion tokenizer, and made without
rendering, which dominates a clip's cost) has no `videos/`, and its labels only the MOTION_KEYS.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field

import numpy as np

from unimo.platform import storage
from unimo.platform.errors import UnimoError

FORMAT_VERSION = 1
MANIFEST = "corpus.json"
VIDEOS = "videos"
LABELS = "labels"

# key: (shape with T for frames, meaning). Coordinates: world y up in metres; cameras in
# OpenCV's convention, x_cam = R @ x_world + t; pixels with (0, 0) the top-left corner.
MOTION_KEYS = {
    "poses": ("(T, 72)", "SMPL axis-angle, global orientation first"),
    "trans": ("(T, 3)", "SMPL translation, metres"),
    "betas": ("(10,)", "SMPL shape"),
    "mocap_framerate": ("()", "frames per second"),
    "gender": ("()", "'neutral'"),
}
CAMERA_KEYS = {
    "K": ("(3, 3)", "camera intrinsics, pixels"),
    "R": ("(T, 3, 3)", "world-to-camera rotation"),
    "t": ("(T, 3)", "world-to-camera translation, metres"),
    "keypoints2d": ("(T, 24, 2)", "SMPL joints projected to pixels"),
    "visibility": ("(T, 24)", "joint seen by the camera (not occluded, inside the image)"),
}
LABEL_KEYS = {**MOTION_KEYS, **CAMERA_KEYS}


class LabelError(UnimoError):
    """A label file that is missing keys or does not match its video."""


def video_path(root: str, clip_id: str) -> str:
    return storage.join(root, VIDEOS, f"{clip_id}.mp4")


def label_path(root: str, clip_id: str) -> str:
    return storage.join(root, LABELS, f"{clip_id}.npz")


def _missing(label: dict) -> set[str]:
    """Required keys a label lacks: every MOTION_KEY, and the CAMERA_KEYS all or none."""
    missing = set(MOTION_KEYS) - set(label)
    if set(CAMERA_KEYS) & set(label):
        missing |= set(CAMERA_KEYS) - set(label)
    return missing


def write_label(path: str, label: dict[str, np.ndarray]) -> None:
    missing = _missing(label)
    if missing:
        raise LabelError(f"label for '{path}' lacks {', '.join(sorted(missing))}")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(label[k]) for k in LABEL_KEYS if k in label})
    storage.write_bytes(path, buf.getvalue())


def read_label(path: str) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(storage.read_bytes(path)), allow_pickle=False) as data:
            label = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError) as e:
        raise LabelError(f"label '{path}' is not a readable npz ({e})") from None
    missing = _missing(label)
    if missing:
        raise LabelError(f"label '{path}' lacks {', '.join(sorted(missing))}")
    T = len(label["poses"])
    for key in ("trans", "R", "t", "keypoints2d", "visibility"):
        if key in label and len(label[key]) != T:
            raise LabelError(f"label '{path}': '{key}' has {len(label[key])} frames, poses has {T}")
    return label


@dataclass
class CorpusManifest:
    seed: int
    clips: int
    frames: int
    fps: float
    size: int
    source: str
    body_model: dict  # {"path": ..., "is_standin": ...}
    clip_ids: list[str] = field(default_factory=list)
    clip_info: dict = field(default_factory=dict)  # clip_id -> {"family" or "file": ...}
    code_version: str = "unknown"
    videos: bool = True  # false: a motion-only corpus (labels without camera keys, no videos/)
    format_version: int = FORMAT_VERSION

    def write(self, root: str) -> None:
        storage.write_json(storage.join(root, MANIFEST), asdict(self))

    @classmethod
    def read(cls, root: str) -> "CorpusManifest":
        data = storage.read_json(storage.join(root, MANIFEST))
        if data.get("format_version") != FORMAT_VERSION:
            raise LabelError(f"corpus '{root}' has format version {data.get('format_version')}, expected {FORMAT_VERSION}")
        return cls(**data)
