"""Generate synchronized video and motion from one image (I2VM), or video from a motion (M2V),
with a trained UniMo model and the two tokenizers that wrote its token shards.

    python jobs/generate.py --image person.png --out ./gen --checkpoint runs:/<run id>
    python jobs/generate.py --task m2v --motion walk.npz --out ./gen --checkpoint ./checkpoint
    python jobs/generate.py --image person.png --out ./gen --checkpoint ... samples=4 sampling.temperature=0.9 sampling.top_k=100

Writes to OUT (one set per sample, `_<i>` after the name when samples > 1):
  video.mp4          the generated clip
  motion.npz         the motion, AMASS-style (poses (T, 72), trans, betas, mocap_framerate,
                     gender; z up), which jobs/make_corpus.py source="amass PATH" reads back
                     (for M2V: the input motion's window)
  side_by_side.mp4   the generated video beside the motion rendered with the stand-in body

The image is centre-cropped and resized to the video tokenizer's training size; an M2V
motion (AMASS .npz or BVH) is resampled to the model's fps and its first T frames are used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from unimo.models.unimo.sampling import SamplingConfig
from unimo.platform import cli, console
from unimo.platform.config import option


@dataclass
class GenerateConfig:
    checkpoint: str = option(help="UniMo checkpoint folder, state.pt, runs:/<run id> or models:/<name>@champion (required)")
    out: str = option(help="output folder, any storage URL (required)")
    task: Literal["i2vm", "m2v"] = option("i2vm", help="i2vm: image -> video and motion; m2v: motion -> video")
    image: str = option("", help="i2vm: the first frame (PNG, JPEG, or a video whose first frame is used)")
    motion: str = option("", help="m2v: an AMASS .npz or a .bvh file")
    samples: int = option(1, help="clips to generate")
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    video_tokenizer: str = option("", help="override the video tokenizer named in the model's token shards")
    motion_tokenizer: str = option("", help="override the motion tokenizer named in the model's token shards")
    body_model: str = option("standin", help="body for the side-by-side render: 'standin' or a path to SMPL_NEUTRAL.pkl")


def read_image(url: str) -> np.ndarray:
    from unimo.pipelines import video_io
    from unimo.platform import storage

    frames, _ = video_io.decode(storage.read_bytes(url), name=url)
    return frames[0]


def read_motion(url: str, fps: float, frames: int, body_model: str):
    from unimo.pipelines.corpus import load_motion_file
    from unimo.pipelines.motion import MotionFileError
    from unimo.platform import body_model as bm

    kind = "amass" if url.lower().endswith(".npz") else "bvh" if url.lower().endswith(".bvh") else None
    if kind is None:
        raise MotionFileError(f"motion '{url}' is neither an AMASS .npz nor a .bvh file")
    motion = load_motion_file(kind, url, bm.load_kinematics(body_model), fps)
    if len(motion) < frames:
        raise MotionFileError(f"motion '{url}' has {len(motion)} frames at {fps:g} fps, the model needs {frames}")
    return motion.window(0, frames)


def main(cfg: GenerateConfig) -> None:
    from unimo.models.unimo.media import UniMoMedia
    from unimo.pipelines import video_io
    from unimo.pipelines.amass import save_amass
    from unimo.pipelines.motion import Motion, place_on_ground
    from unimo.pipelines.synthetic import render_motion, rig
    from unimo.platform import body_model as bm
    from unimo.platform import storage, tracking
    from unimo.platform.errors import ConfigError

    if cfg.task == "i2vm" and not cfg.image:
        raise ConfigError("task i2vm needs --image")
    if cfg.task == "m2v" and not cfg.motion:
        raise ConfigError("task m2v needs --motion")
    if cfg.samples < 1:
        raise ConfigError(f"samples must be at least 1, got {cfg.samples}")
    media = UniMoMedia.load(cfg.checkpoint, cfg.video_tokenizer, cfg.motion_tokenizer)
    body, kinematics = rig(cfg.body_model), bm.load_kinematics(cfg.body_model)
    out = storage.resolve(cfg.out)
    with tracking.start_run("generate", cfg, tags={"unimo.task": cfg.task}) as run:
        if cfg.task == "i2vm":
            clip = media.image_to_video_and_motion(read_image(cfg.image), cfg.samples, cfg.sampling)
            motions = [Motion(clip.poses[i], place_on_ground(clip.poses[i], clip.trans[i], clip.betas[i], kinematics, per_frame=False),
                              clip.betas[i], clip.fps) for i in range(cfg.samples)]
        else:
            given = read_motion(cfg.motion, media.fps, media.frames, cfg.body_model)
            clip = media.motion_to_video(given.poses, given.trans, given.betas, cfg.samples, cfg.sampling)
            motions = [given] * cfg.samples
        written = []
        for i, motion in enumerate(motions):
            suffix = f"_{i}" if cfg.samples > 1 else ""
            rendered = render_motion(motion, body, media.size, np.random.default_rng(0)).frames
            files = {f"video{suffix}.mp4": video_io.encode_mp4(clip.frames[i], clip.fps),
                     f"side_by_side{suffix}.mp4": video_io.encode_mp4(np.concatenate([clip.frames[i], rendered], axis=2), clip.fps)}
            for name, blob in files.items():
                storage.write_bytes(storage.join(out, name), blob)
                tracking.log_bytes(blob, f"outputs/{name}")
            save_amass(storage.join(out, f"motion{suffix}.npz"), motion, kinematics)
            tracking.log_bytes(storage.read_bytes(storage.join(out, f"motion{suffix}.npz")), f"outputs/motion{suffix}.npz")
            written += [storage.join(out, n) for n in (*files, f"motion{suffix}.npz")]
    T = clip.frames.shape[1]
    console.say(f"{cfg.task}: {cfg.samples} clip(s) of {T} frames at {media.size}x{media.size}, {clip.fps:g} fps, from {cfg.checkpoint}")
    for path in written:
        console.say(f"  {path}")
    console.say(f"MLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, GenerateConfig, description=__doc__)
