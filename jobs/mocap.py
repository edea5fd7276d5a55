"""Motion capture from a video with a trained UniMo model (V2M): SMPL motion out.

    python jobs/mocap.py VIDEO --out DIR --checkpoint runs:/<run id>
    python jobs/mocap.py s3://bucket/clip.mp4 --out ./mocap --checkpoint ./checkpoint overlap=8

VIDEO is any video PyAV reads, by local path or fsspec URL. It is resampled to the model's
frame rate, centre-cropped to a square and resized to the video tokenizer's size, and
captured window by window (T frames each, overlapping by `overlap`), the windows joined
without jumps at the seams (unimo/models/unimo/stitching.py). Writes to DIR:

  motion.npz         AMASS-style (poses (N, 72), trans, betas, mocap_framerate, gender; z up),
                     which the AMASS importer (jobs/make_corpus.py source="amass PATH") reads
  overlay.mp4        the recovered body drawn over the video (the centre square, at
                     `overlay_size`), through a camera fitted to the person's 2D keypoints
                     (pipelines/camera_fit.py): from the corpus label beside the video when
                     there is one, else from MediaPipe
  side_by_side.mp4   the input (as the model saw it) beside the recovered body, rendered
                     with the stand-in body from a camera that follows it

The motion starts above the origin, facing +z, its lowest sole on the floor: one view does
not say where the person stands in the world. The overlay's camera supplies that placement
(one still camera and where the body stands in each frame); pose and heading are the
model's own.
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
    overlay: bool = option(True, help="write overlay.mp4: the body over the video, through a camera fitted to 2D keypoints")
    overlay_size: int = option(256, help="side of the overlay video, pixels")


def keypoints_for(video: str, frames: np.ndarray, index: np.ndarray, crop) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The person's 2D keypoints in the decoded frames, as preprocessing gets them: (T, 24, 2),
    confidences (T, 24) and intrinsics (3, 3)."""
    from unimo.pipelines import corpus_format, keypoints
    from unimo.pipelines.decode import sidecar_label_path
    from unimo.pipelines.preprocess import default_K, sidecar_keypoints

    label = sidecar_label_path(video)
    if label:
        kp, conf, K, _ = sidecar_keypoints(corpus_format.read_label(label), index, crop)
        return kp, conf, K
    kp, conf = keypoints.detect(frames, progress=True)
    return kp, conf, default_K(frames.shape[1])


def draw_overlay(cfg: MocapConfig, frames: np.ndarray, index: np.ndarray, crop, motion, kinematics) -> tuple[np.ndarray, float] | None:
    """The recovered body over the frames, and the camera fit's reprojection error (px), or
    None (said on the console) when no person is seen."""
    import torch

    from unimo.pipelines.camera_fit import fit_camera
    from unimo.pipelines.motion import rigidly_moved
    from unimo.pipelines.overlay import draw_body

    kp, conf, K = keypoints_for(cfg.video, frames, index, crop)
    with torch.no_grad():
        joints = kinematics(torch.as_tensor(motion.poses), torch.as_tensor(motion.betas).expand(len(motion.poses), -1),
                            torch.as_tensor(motion.trans)).numpy()
    try:
        R, shift, residual = fit_camera(joints, kp, conf, K)
    except ValueError as e:
        console.say(f"no overlay: {e}")
        return None
    poses, trans = rigidly_moved(motion.poses, motion.trans, motion.betas, R, shift, kinematics)
    return draw_body(frames, poses, trans, motion.betas, K, cfg.body_model), residual


def main(cfg: MocapConfig) -> None:
    import mlflow

    from unimo.models.unimo.media import UniMoMedia
    from unimo.models.video_tokenizer.data import resize_square
    from unimo.pipelines import video_io
    from unimo.pipelines.amass import save_amass
    from unimo.pipelines.decode import DecodeConfig, decode_resampled
    from unimo.pipelines.motion import Motion, place_on_ground
    from unimo.pipelines.synthetic import render_motion, rig
    from unimo.platform import body_model as bm
    from unimo.platform import storage, tracking

    media = UniMoMedia.load(cfg.checkpoint, cfg.video_tokenizer, cfg.motion_tokenizer)
    # the centre square at the model's fps: what the model reads (resized) and what the overlay is drawn on
    frames, index, crop = decode_resampled(storage.read_bytes(cfg.video), cfg.video,
                                           DecodeConfig(fps=media.fps, size=max(cfg.overlay_size, media.size)))
    out = storage.resolve(cfg.out)
    written = {}
    with tracking.start_run("mocap", cfg) as run:
        poses, trans, betas = media.video_to_motion(frames, cfg.overlap, cfg.batch, cfg.sampling, progress=True)
        kinematics = bm.load_kinematics(cfg.body_model)
        trans = place_on_ground(poses, trans, betas, kinematics, per_frame=False)  # one shift: jumps stay jumps
        motion = Motion(poses, trans, betas, media.fps)
        save_amass(storage.join(out, "motion.npz"), motion, kinematics)
        written["motion.npz"] = storage.read_bytes(storage.join(out, "motion.npz"))
        rendered = render_motion(motion, rig(cfg.body_model), media.size, np.random.default_rng(0)).frames
        written["side_by_side.mp4"] = video_io.encode_mp4(np.concatenate([resize_square(frames, media.size), rendered], axis=2), media.fps)
        overlay = draw_overlay(cfg, frames, index, crop, motion, kinematics) if cfg.overlay else None
        if overlay is not None:
            written["overlay.mp4"] = video_io.encode_mp4(overlay[0], media.fps)
            mlflow.log_metric("overlay_reprojection_px", overlay[1])
        for name, data in written.items():
            storage.write_bytes(storage.join(out, name), data)
            tracking.log_bytes(data, f"outputs/{name}")
    travelled = float(np.linalg.norm(trans[-1, [0, 2]] - trans[0, [0, 2]]))
    registered = f"; the body sits {overlay[1]:.1f} px from the person's keypoints on average" if overlay is not None else ""
    console.say(f"{cfg.video}: {len(frames)} frames at {media.fps:g} fps ({len(frames) / media.fps:.1f} s) captured in windows of "
                f"{media.frames} frames; the root travelled {travelled:.2f} m{registered}")
    console.say("\n".join(f"  {storage.join(out, name)}" for name in written))
    console.say(f"MLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, MocapConfig, description=__doc__, positional="video")
