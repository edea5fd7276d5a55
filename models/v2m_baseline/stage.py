"""Training the direct-regression baseline, as a stage plug-in of the shared training
session (`python jobs/train.py --stage v2m_baseline data=TOKEN_SHARDS`).

Data: the windows of the token shards UniMo trains on, split into training and validation
by source video exactly as UniMo's stage splits them (`unimo.models.unimo.data`), so both
learn from the same clips and validate on the same ones. Each window's frames are cut from
its source video (as pre-tokenization cut them) and its motion read from the corpus label:
the baseline needs token shards written from a corpus.

With `model.input=video_tokens` it reads the windows' video tokens instead of their frames
(`TokenRegressor`): a probe of whether the pose survives the video tokenizer.

Loss, per frame: the rotation matrices' squared error (the root's heading removed, as the
metric removes it) plus 10 x the mean distance of root-relative joints, with the predicted
and the true betas. Validation: MPJPE and PA-MPJPE in the V2M evaluation's frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from unimo.models.v2m_baseline.model import RegressorConfig, build
from unimo.platform import motion_features as mf
from unimo.platform import motion_metrics
from unimo.platform.config import option
from unimo.platform.rotations import axis_angle_to_matrix, rotation_6d_to_matrix
from unimo.platform.smpl_skeleton import NUM_JOINTS

log = logging.getLogger(__name__)


@dataclass
class V2MBaselineStageConfig:
    model: RegressorConfig = field(default_factory=RegressorConfig)
    val_fraction: float = option(0.1, help="share of source videos held out for validation (as the unimo stage's)")
    val_clips: int = option(256, help="validation clips, at most")
    size: int = option(0, help="(from the token shards) frame side, pixels")
    frames: int = option(0, help="(from the token shards) frames per window")
    video_codes: int = option(0, help="(from the token shards) the video tokenizer's vocabulary")
    grid: list[int] = option([0, 0], help="(from the token shards) video tokens a latent frame, h x w")
    temporal_factor: int = option(0, help="(from the token shards) frames a latent frame stands for")
    fsq_levels: list[int] = option([], help="(from the token shards' video tokenizer) its FSQ levels, for code_embedding=fsq")
    body_model: str = option("standin", help="'standin' or a path to SMPL_NEUTRAL.pkl")


def canonical_rotations(poses: torch.Tensor) -> torch.Tensor:
    """Axis-angle poses (..., 72) -> local rotation matrices (..., 24, 3, 3), each frame's
    root turned to face +z (the frame of the V2M metrics)."""
    rots = axis_angle_to_matrix(poses.reshape(*poses.shape[:-1], NUM_JOINTS, 3))
    unturn = mf.yaw_matrix(-mf.heading(poses.unsqueeze(-2)))
    return torch.cat([(unturn @ rots[..., 0, :, :]).unsqueeze(-3), rots[..., 1:, :, :]], dim=-3)


def predicted_rotations(model, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rot6d, betas = model(video)
    return rotation_6d_to_matrix(rot6d), betas


def root_relative_joints(kinematics, rots: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Rotations (B, T, 24, 3, 3), betas (B, nb) -> root-relative joints (B, T, 24, 3)."""
    B, T = rots.shape[:2]
    joints, _ = kinematics.forward_matrices(rots.flatten(0, 1), betas.repeat_interleave(T, 0))
    return (joints - joints[:, :1]).view(B, T, NUM_JOINTS, 3)


class V2MBaselineStage:
    name = "v2m_baseline"

    def __init__(self, cfg: V2MBaselineStageConfig):
        from unimo.platform import body_model

        self.cfg = cfg
        self.kinematics = body_model.load_kinematics(cfg.body_model)

    def build_model(self):
        c = self.cfg
        return build(c.model, c.size, c.video_codes, tuple(c.grid), c.temporal_factor, c.fsq_levels)

    def _errors(self, model, batch: dict):
        kinematics = self.kinematics.to(batch["poses"].device)
        rots, betas = predicted_rotations(model, batch[input_key(self.cfg.model)])
        target = canonical_rotations(batch["poses"].float())
        true_betas = batch["betas"].float()
        joints = root_relative_joints(kinematics, rots.float(), betas.float())
        true_joints = root_relative_joints(kinematics, target, true_betas)
        return rots.float(), target, betas.float(), true_betas, joints, true_joints

    def loss(self, model, batch: dict):
        rots, target, betas, true_betas, joints, true_joints = self._errors(model, batch)
        rotation = (rots - target).pow(2).sum((-1, -2)).mean()
        position = (joints - true_joints).norm(dim=-1).mean()
        shape = (betas - true_betas).pow(2).mean()
        total = rotation + 10 * position + 0.01 * shape
        return total, {"loss": total.detach(), "rotation": rotation.detach(), "position_m": position.detach()}

    @torch.no_grad()
    def validate(self, model, batches) -> dict[str, float]:
        sums, n = np.zeros(2), 0
        for batch in batches:
            _, _, _, _, joints, true_joints = self._errors(model, batch)
            frames = joints.shape[0] * joints.shape[1]
            sums += [float(motion_metrics.mpjpe(joints, true_joints)) * frames,
                     float(motion_metrics.pa_mpjpe(joints.flatten(0, 1), true_joints.flatten(0, 1))) * frames]
            n += frames
        return {"mpjpe_mm": sums[0] / n, "pa_mpjpe_mm": sums[1] / n} if n else {}


def input_key(model: RegressorConfig) -> str:
    """The batch column the regressor reads."""
    return "video" if model.input == "frames" else "video_tokens"


# -- the plug-in: the driver side ----------------------------------------------------------


def labelled_windows(root: str, val_fraction: float, val_limit: int | None = None, frames: bool = True):
    """(manifest, training arrays, validation arrays) of the token shards' windows whose
    source is a corpus video with labels: {video (N, T, S, S, 3) uint8 (or, without
    `frames`, video_tokens (N, L * h * w)), poses (N, T, 72), betas (N, 10)}, split by source
    video as the unimo stage splits them."""
    from unimo.models.training.data import DataError, in_validation
    from unimo.models.unimo.evaluation import v2m_motion_windows, window_frames
    from unimo.pipelines.token_shards import TokenManifest

    manifest = TokenManifest.read(root)
    tokens, truth = v2m_motion_windows(root)
    if not truth:
        raise DataError(f"token shards '{root}' hold no window of a corpus video with labels: the baseline regresses the labels' "
                        "motion (pretokenize a corpus)")
    arrays = {"poses": np.stack([t["poses"] for t in truth]), "betas": np.stack([t["betas"] for t in truth])}
    if frames:
        arrays["video"] = window_frames(tokens["source"], tokens["start_frame"], manifest.frames, manifest.size)
    else:
        arrays["video_tokens"] = np.asarray(tokens["video_tokens"]).reshape(len(truth), -1)
    val = np.array([in_validation(s, val_fraction) for s in tokens["source"]], dtype=bool)
    return manifest, {k: v[~val] for k, v in arrays.items()}, {k: v[val][:val_limit] for k, v in arrays.items()}


class V2MBaselinePlugin:
    name = "v2m_baseline"
    config_cls = V2MBaselineStageConfig
    selection_metric = ("val/mpjpe_mm", "min")

    def debug_overrides(self, cfg):
        st = cfg.v2m_baseline
        return replace(cfg, trainer=cfg.trainer.for_debug(max_batch=4),
                       v2m_baseline=replace(st, model=replace(st.model, channels=8, width=32, temporal_blocks=1),
                                            val_clips=min(st.val_clips, 16)))

    def prepare(self, cfg, use_ray: bool):
        from unimo.models.training.data import DataError, data_urls
        from unimo.models.training.stages import PreparedData
        from unimo.models.unimo.data import ray_dataset
        from unimo.models.video_tokenizer import api as video_tokenizer_api

        st = cfg.v2m_baseline
        if not cfg.data:
            raise DataError("the v2m_baseline stage trains on the token shards UniMo trains on: give data=URL")
        urls = data_urls(cfg.data, kinds=("tokens",))
        if len(urls) != 1:
            raise DataError(f"the v2m_baseline stage reads one token shard folder, got {len(urls)}: '{cfg.data}'")
        manifest, train, val = labelled_windows(urls[0], st.val_fraction, st.val_clips, frames=st.model.input == "frames")
        count = len(train["poses"])
        if not len(val["poses"]):
            log.warning("no source video of '%s' falls in the validation split: validating on training clips", urls[0])
            val = {k: v[: st.val_clips] for k, v in train.items()}
        needed = cfg.trainer.batch_size * (cfg.trainer.num_workers if use_ray else 1)
        if count < needed:
            raise DataError(f"token shards '{urls[0]}' have {count} labelled training windows, fewer than one step needs ({needed})")
        stage_config = replace(st, size=manifest.size, frames=manifest.frames, video_codes=manifest.video_tokenizer["codebook_size"],
                               grid=list(manifest.grid), temporal_factor=manifest.video_tokenizer["temporal_factor"],
                               fsq_levels=video_tokenizer_api.fsq_levels(manifest.video_tokenizer["source"]) if st.model.code_embedding == "fsq" else [])
        if use_ray:
            train, val = ray_dataset(train), ray_dataset(val)
        return PreparedData(stage_config, urls[0], train, val, count)

    def make_stage(self, stage_config: V2MBaselineStageConfig) -> V2MBaselineStage:
        return V2MBaselineStage(stage_config)

    def sample_artifacts(self, checkpoint_file: str, example: dict) -> dict[str, bytes]:
        """A validation clip beside the motion the baseline regresses from it, rendered."""
        from unimo.models.v2m_baseline.api import RegressorInference
        from unimo.pipelines import video_io
        from unimo.pipelines.motion import Motion
        from unimo.pipelines.synthetic import render_motion, rig

        if "video" not in example:  # the token probe: no frames to show beside its motion
            return {}
        model = RegressorInference.load(checkpoint_file)
        video = np.asarray(example["video"])
        row = model.predict(video[None])[0]
        T = len(row["poses"])
        motion = Motion(row["poses"], np.zeros((T, 3), np.float32) + [0, 0.9, 0], row["betas"], 30.0)
        rendered = render_motion(motion, rig(model.cfg.body_model), video.shape[1], np.random.default_rng(0)).frames
        return {"samples/clip_vs_regressed_motion.mp4": video_io.encode_mp4(np.concatenate([video, rendered], axis=2), 30.0)}


PLUGIN = V2MBaselinePlugin()
