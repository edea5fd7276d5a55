"""Motion capture from a video with a trained UniMo model (V2M): SMPL motion out.

    python jobs/mocap.py VIDEO --out DIR --checkpoint runs:/<run id>
    python jobs/mocap.py s3://bucket/clip.mp4 --out ./mocap --checkpoint ./checkpoint overlap=8

VIDEO is any video PyAV reads, by local path or fsspec URL. It is resampled to the model's
frame rate, centre-cropped to a square and resized to the video tokenizer's size, and
captured window by window (T frames each, overlapping by `overlap`), the windows joined
without jumps at the seams (unimo/models/unimo/stitching.py). Writes to DIR:

  motion.npz         AMASS-style (poses (N, 72), trans, betas, mocap_framerate, gender; z up),
                     which the AMASS importer (jobs/make_corpus.py source="amass PATH") reads
  side_by_side.mp4   the input (as the model saw it) beside the recovered body, rendered
                     with the stand-in body from a camera that follows it

The motion starts above the origin, facing +z, its lowest sole on the floor: one view does not say where the person stands
in the world. The recovered body is not yet registered to the person in the frame (that
needs a camera estimate from 2D keypoints), so there is no overlay on the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from unimo.models.unimo.sampling import SamplingConfig
from unimo.platform import cli, console
from unimo.platform.config import option


@dataclass
class MocapConfig:
    video: str = option(help="the video: a local path or an fsspec URL (required; may be given first, without video=)")
    out: str = option(help="output folder, any storage URL (required)")
    checkpoint: str = option(help="UniMo checkpoint folder, state.pt, runs:/<run id> or models:/<name>@champion (required)")
    overlap: int = option(5, help="frames shared by consecutive windows (cross-faded)")
    batch: int = option(8, help="windows captured together")
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=0.0))
    video_tokenizer: str = option("", help="override the video tokenizer named in the model's token shards")
    motion_tokenizer: str = option("", help="override the motion tokenizer named in the model's token shards")
    body_model: str = option("standin", help="body for the render: 'standin' or a path to SMPL_NEUTRAL.pkl")


def resample(frames: np.ndarray, fps: float, target: float) -> np.ndarray:
    """Nearest frames at `target` fps."""
    if abs(fps - target) < 1e-3:
        return frames
    times = np.arange(0, len(frames) / fps, 1 / target)
    return frames[np.minimum(np.round(times * fps).astype(int), len(frames) - 1)]


def main(cfg: MocapConfig) -> None:
    from unimo.models.unimo.media import UniMoMedia
    from unimo.models.video_tokenizer.data import resize_square
    from unimo.pipelines import video_io
    from unimo.pipelines.amass import save_amass
    from unimo.pipelines.motion import Motion, place_on_ground
    from unimo.pipelines.synthetic import render_motion, rig
    from unimo.platform import body_model as bm
    from unimo.platform import storage, tracking

    media = UniMoMedia.load(cfg.checkpoint, cfg.video_tokenizer, cfg.motion_tokenizer)
    frames, fps = video_io.decode(storage.read_bytes(cfg.video), name=cfg.video)
    frames = resample(frames, fps, media.fps)
    out = storage.resolve(cfg.out)
    with tracking.start_run("mocap", cfg) as run:
        poses, trans, betas = media.video_to_motion(frames, cfg.overlap, cfg.batch, cfg.sampling, progress=True)
        kinematics = bm.load_kinematics(cfg.body_model)
        trans = place_on_ground(poses, trans, betas, kinematics, per_frame=False)  # one shift: jumps stay jumps
        motion = Motion(poses, trans, betas, media.fps)
        save_amass(storage.join(out, "motion.npz"), motion, kinematics)
        rendered = render_motion(motion, rig(cfg.body_model), media.size, np.random.default_rng(0)).frames
        side = video_io.encode_mp4(np.concatenate([resize_square(frames, media.size), rendered], axis=2), media.fps)
        storage.write_bytes(storage.join(out, "side_by_side.mp4"), side)
        tracking.log_bytes(storage.read_bytes(storage.join(out, "motion.npz")), "outputs/motion.npz")
        tracking.log_bytes(side, "outputs/side_by_side.mp4")
    travelled = float(np.linalg.norm(trans[-1, [0, 2]] - trans[0, [0, 2]]))
    console.say(f"{cfg.video}: {len(frames)} frames at {media.fps:g} fps ({len(frames) / media.fps:.1f} s) captured in windows of "
                f"{media.frames} frames; the root travelled {travelled:.2f} m")
    console.say(f"  {storage.join(out, 'motion.npz')}\n  {storage.join(out, 'side_by_side.mp4')}")
    console.say(f"MLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, MocapConfig, description=__doc__, positional="video")
