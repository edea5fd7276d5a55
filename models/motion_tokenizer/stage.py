"""Training the motion tokenizer: its config, data, losses and validation metrics, as a
stage plug-in of the shared training session (see `unimo.models.training.stages`).

Loss = per-group reconstruction of the normalised features (shape, translation, global
orientation, body pose), a joint-position loss through the joints-only kinematics, a
velocity loss on those joints, and the codebook commitment loss. Training windows are
augmented first (`augment`: mirroring by default); validation windows never are. Under
bf16 autocast only the network runs in bf16: kinematics and losses, in metres, stay fp32.

Data: the URLs given (shards or corpora), else motion-only corpora generated once under
UNIMO_HOME: procedural motion, plus real mocap (the training files of bvhtools' BVH,
fetched from the package registry) unless `mocap_clips=0` or debug.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from unimo.models.motion_tokenizer.augment import MotionAugmentConfig, augment
from unimo.models.motion_tokenizer.model import MotionTokenizer, MotionTokenizerConfig
from unimo.models.quantizer import codebook_usage
from unimo.models.training.accelerator import full_precision
from unimo.platform import motion_features as mf
from unimo.platform import motion_metrics
from unimo.platform.config import option


@dataclass
class MotionLossConfig:
    shape: float = option(1.0, help="weight of the betas reconstruction")
    translation: float = option(1.0, help="weight of the root velocity reconstruction")
    orientation: float = option(1.0, help="weight of the global orientation reconstruction")
    pose: float = option(1.0, help="weight of the body pose reconstruction")
    joints: float = option(5.0, help="weight of root-relative joint positions (m)")
    velocity: float = option(5.0, help="weight of joint velocities (m/frame)")


@dataclass
class MotionDataConfig:
    window: int = option(64, help="frames per training window")
    corpus_clips: int = option(8192, help="clips of the generated procedural corpus, when no data is given")
    mocap_clips: int = option(2048, help="clips cut from real mocap (bvhtools' training files) added to it; 0: none")
    val_windows: int = option(512, help="validation windows, at most (a fixed sample of the validation clips): PVE costs a full mesh a frame")


@dataclass
class MotionTokenizerStageConfig:
    model: MotionTokenizerConfig = field(default_factory=MotionTokenizerConfig)
    loss: MotionLossConfig = field(default_factory=MotionLossConfig)
    augment: MotionAugmentConfig = field(default_factory=MotionAugmentConfig)
    data: MotionDataConfig = field(default_factory=MotionDataConfig)
    body_model: str = option("standin", help="'standin' or a path to SMPL_NEUTRAL.pkl")
    fps: float = option(30.0, help="frame rate of the data (for the acceleration error)")
    feature_mean: list[float] = option([], help="feature normalisation (filled from the data's statistics)")
    feature_std: list[float] = option([], help="feature normalisation (filled from the data's statistics)")


_GROUPS = {"shape": mf.BETAS, "translation": mf.VELOCITY, "orientation": mf.ROOT, "pose": mf.BODY}


def joints_of(kinematics, poses: torch.Tensor, trans: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """(B, T, 72), (B, T, 3), (B, 10) -> joints (B, T, 24, 3)."""
    B, T = poses.shape[:2]
    return kinematics(poses.reshape(B * T, 72), betas.repeat_interleave(T, 0), trans.reshape(B * T, 3)).reshape(B, T, 24, 3)


class MotionTokenizerStage:
    """The worker side: model, loss of a batch, validation metrics."""

    name = "motion_tokenizer"

    def __init__(self, cfg: MotionTokenizerStageConfig):
        from unimo.platform import body_model

        self.cfg = cfg
        self.kinematics = body_model.load_kinematics(cfg.body_model)  # shared, on the CPU
        self._on_device = {}

    def kinematics_on(self, device: torch.device):
        """The kinematics beside the batch (a copy: the cached CPU one stays where it is)."""
        if device.type == "cpu":
            return self.kinematics
        if device not in self._on_device:
            self._on_device[device] = copy.deepcopy(self.kinematics).to(device)
        return self._on_device[device]

    def build_model(self) -> MotionTokenizer:
        mean = torch.tensor(self.cfg.feature_mean) if self.cfg.feature_mean else None
        std = torch.tensor(self.cfg.feature_std) if self.cfg.feature_std else None
        return MotionTokenizer(self.cfg.model, mean, std)

    def _targets(self, batch: dict):
        """Features, and the window as given except that it starts at the origin: the tokens
        carry velocity, the start position (like the start heading) is side information."""
        poses, trans, betas = batch["poses"].float(), batch["trans"].float(), batch["betas"].float()
        trans = trans - trans[:, :1]
        return mf.to_features(poses, trans, betas), poses, trans, betas, mf.heading(poses)

    def loss(self, model, batch: dict):
        with full_precision(batch["poses"].device.type):  # targets exactly as inference computes them
            poses, trans = augment(self.cfg.augment, batch["poses"].float(), batch["trans"].float())
            feats, poses, trans, betas, yaw = self._targets({**batch, "poses": poses, "trans": trans})
        recon, q = model(feats)  # the network: under the loop's autocast
        raw = model.module if hasattr(model, "module") else model
        with full_precision(feats.device.type):
            recon = recon.float()
            norm = lambda x: (x - raw.mean) / raw.std  # noqa: E731
            terms = {name: torch.nn.functional.smooth_l1_loss(norm(recon)[..., sl], norm(feats)[..., sl]) for name, sl in _GROUPS.items()}
            p_hat, t_hat, b_hat = mf.from_features(recon, yaw=yaw)
            kinematics = self.kinematics_on(feats.device)
            j_hat, j = joints_of(kinematics, p_hat, t_hat, b_hat), joints_of(kinematics, poses, trans, betas)
            terms["joints"] = (motion_metrics.root_align(j_hat) - motion_metrics.root_align(j)).norm(dim=-1).mean()
            terms["velocity"] = ((j_hat[:, 1:] - j_hat[:, :-1]) - (j[:, 1:] - j[:, :-1])).norm(dim=-1).mean()
            w = self.cfg.loss
            total = sum(getattr(w, k) * v for k, v in terms.items()) + raw.cfg.commit_weight * q.commit_loss
        report = {k: v.detach() for k, v in terms.items()}  # tensors: the loop syncs only when it logs
        report.update(commit=q.commit_loss.detach(), perplexity=q.perplexity.detach(), loss=total.detach())
        return total, report

    def validate(self, model: MotionTokenizer, batches) -> dict[str, float]:
        """MPJPE, PA-MPJPE, PVE (mm), acceleration error (m/s^2), codebook usage and
        perplexity over the validation windows."""
        from unimo.platform import body_model

        smpl, smpl_device = body_model.load_smpl(self.cfg.body_model), torch.device("cpu")
        sums, frames, codes = {"mpjpe_mm": 0.0, "pa_mpjpe_mm": 0.0, "pve_mm": 0.0, "accel_err": 0.0}, 0, []
        for batch in batches:
            feats, poses, trans, betas, yaw = self._targets(batch)
            recon, q = model(feats)
            p_hat, t_hat, b_hat = mf.from_features(recon, yaw=yaw)
            kinematics = self.kinematics_on(feats.device)
            j_hat, j = joints_of(kinematics, p_hat, t_hat, b_hat), joints_of(kinematics, poses, trans, betas)
            n = poses.shape[0] * poses.shape[1]
            sums["mpjpe_mm"] += float(motion_metrics.mpjpe(j_hat, j)) * n
            sums["pa_mpjpe_mm"] += float(motion_metrics.pa_mpjpe(j_hat.flatten(0, 1), j.flatten(0, 1))) * n
            sums["accel_err"] += float(motion_metrics.accel_error(j_hat, j, self.cfg.fps)) * n
            if smpl_device != poses.device:
                smpl, smpl_device = smpl.to(poses.device), poses.device
            sums["pve_mm"] += float(_pve(smpl, p_hat, t_hat, b_hat, poses, trans, betas, j_hat, j)) * n
            frames += n
            codes.append(q.codes.flatten().cpu())
        if not frames:  # no validation windows: no numbers, rather than zeros that look perfect
            return {}
        out = {k: v / frames for k, v in sums.items()}
        usage, perplexity = codebook_usage(torch.cat(codes) if codes else torch.zeros(0, dtype=torch.long), model.cfg.codebook_size)
        out.update(codebook_usage=usage, perplexity=perplexity)
        return out


def _pve(smpl, p_hat, t_hat, b_hat, poses, trans, betas, j_hat, j) -> torch.Tensor:
    def verts(p, t, b):
        B, T = p.shape[:2]
        return smpl(global_orient=p.reshape(-1, 72)[:, :3], body_pose=p.reshape(-1, 72)[:, 3:],
                    betas=b.repeat_interleave(T, 0), transl=t.reshape(-1, 3)).vertices
    return motion_metrics.pve(verts(p_hat, t_hat, b_hat), verts(poses, trans, betas), j_hat.flatten(0, 1)[:, 0], j.flatten(0, 1)[:, 0])


def with_stats(cfg: MotionTokenizerStageConfig, mean: np.ndarray, std: np.ndarray) -> MotionTokenizerStageConfig:
    return replace(cfg, feature_mean=[float(x) for x in mean], feature_std=[float(x) for x in std])


# -- the plug-in: the driver side ----------------------------------------------------------


def training_data(data: str, cfg: MotionDataConfig, debug: bool, use_ray: bool) -> str:
    """The data URLs (comma-separated): as given, or motion-only corpora generated once
    under UNIMO_HOME (with Ray tasks, or in this process when `use_ray` is false)."""
    from unimo.models.training.data import data_urls
    from unimo.pipelines import corpus_format
    from unimo.pipelines.corpus import CorpusConfig, build_corpus
    from unimo.platform import storage
    from unimo.platform.home import home_path

    if data:
        return ",".join(data_urls(data))  # a wrong path fails here, in one line
    frames, clips = max(cfg.window, 128), 24 if debug else cfg.corpus_clips
    # motion is all that trains here: no videos, so thousands of clips take a minute
    corpora = {f"train_motion_seed0_{clips}x{frames}": CorpusConfig(clips=clips, frames=frames, seed=0, videos=False)}
    if cfg.mocap_clips and not debug:
        corpora[f"mocap_bvhtools_train_motion_{cfg.mocap_clips}x{frames}"] = CorpusConfig(
            clips=cfg.mocap_clips, frames=frames, seed=0, source="bvhtools", videos=False)
    urls = []
    for name, corpus in corpora.items():
        url = home_path("datasets", name)
        if not storage.exists(storage.join(url, corpus_format.MANIFEST)):
            build_corpus(corpus, url, progress=True, use_ray=use_ray)
        urls.append(url)
    return ",".join(urls)


class MotionTokenizerPlugin:
    name = "motion_tokenizer"
    config_cls = MotionTokenizerStageConfig
    selection_metric = ("val/mpjpe_mm", "min")  # what a sweep selects on
    # what `jobs/sweep.py` compares by default: expert decoders, the expansion s, codebook size
    ablation = [{}, {"motion_tokenizer.model.experts": 1}, {"motion_tokenizer.model.expansion": 1},
                {"motion_tokenizer.model.expansion": 4}, {"motion_tokenizer.model.codebook_size": 256},
                {"motion_tokenizer.model.codebook_size": 1024}]

    def held_out_metrics(self, checkpoint: str, window: int) -> dict[str, float]:
        """A sweep trial's checkpoint on the held-out procedural and real motion sets."""
        from unimo.models.motion_tokenizer import evaluation as ev
        from unimo.models.motion_tokenizer.api import MotionTokenizerInference
        from unimo.platform import body_model

        tok = MotionTokenizerInference.load(checkpoint)
        scored = ev.score_held_out(tok, window, body_model.load_kinematics(tok.body_model))
        return {f"{key}/{k}": v for key, (_, _, r) in scored.items() for k, v in r.items()}

    def held_out_table(self, finished: list[dict], seeds: int) -> str:
        from unimo.models.motion_tokenizer.evaluation import ablation_table

        return "Held-out motion (finished trials):\n\n" + ablation_table(finished, seeds)

    def debug_overrides(self, cfg):
        """A tiny model, short windows and a few steps: the smoke path tests and CI run."""
        mt = cfg.motion_tokenizer
        model = replace(mt.model, codebook_size=32, code_dim=16, hidden=32, depth=1)
        trainer = cfg.trainer.for_debug(max_batch=8)
        data = replace(mt.data, window=min(mt.data.window, 32))
        return replace(cfg, trainer=trainer, motion_tokenizer=replace(mt, model=model, data=data))

    def prepare(self, cfg, use_ray: bool):
        from unimo.models.motion_tokenizer import data as motion_data
        from unimo.models.training.data import DataError, num_examples
        from unimo.models.training.stages import PreparedData

        d = cfg.motion_tokenizer.data
        urls = training_data(cfg.data, d, cfg.debug, use_ray)
        stage_cfg = with_stats(cfg.motion_tokenizer, *motion_data.feature_stats(urls))
        if use_ray:
            train, val = motion_data.motion_datasets(urls, d.window)
            train, val = train.materialize(), val.limit(d.val_windows).materialize()
            count = train.count()
        else:
            train, val = motion_data.motion_arrays(urls, d.window, val_limit=d.val_windows, progress=True)
            count = num_examples(train)
        if (val.count() if use_ray else num_examples(val)) == 0:
            from unimo.platform import console

            console.warn(f"data '{urls}' has no validation windows (10% of clips are held out, by a hash of their "
                         "clip_id): this run reports no val/ metrics")
        needed = cfg.trainer.batch_size * (cfg.trainer.num_workers if use_ray else 1)
        if count < needed:
            raise DataError(f"data '{urls}' has {count} training windows of {d.window} frames, fewer than one step "
                                        f"needs (batch_size {cfg.trainer.batch_size} x {needed // cfg.trainer.batch_size} workers)")
        return PreparedData(stage_cfg, urls, train, val, count)

    def make_stage(self, stage_config: MotionTokenizerStageConfig) -> MotionTokenizerStage:
        return MotionTokenizerStage(stage_config)

    def sample_artifacts(self, checkpoint_file: str, example: dict) -> dict[str, bytes]:
        """Ground truth (left) beside its reconstruction (right), one validation window."""
        from unimo.models.motion_tokenizer.api import MotionTokenizerInference
        from unimo.pipelines import synthetic, video_io
        from unimo.pipelines.motion import Motion

        tok = MotionTokenizerInference.load(checkpoint_file)
        poses, trans, betas = (torch.as_tensor(np.asarray(example[k]))[None] for k in ("poses", "trans", "betas"))
        p_hat, t_hat, b_hat = tok.decode(tok.encode(poses, trans, betas))
        body = synthetic.rig(tok.body_model)
        halves = []
        for p, t, b in ((poses, trans, betas), (p_hat, t_hat, b_hat)):
            motion = Motion(p[0].numpy(), t[0].numpy(), b[0].numpy(), 30.0)
            halves.append(synthetic.render_motion(motion, body, 128, np.random.default_rng(0)).frames)  # same camera, same look
        return {"samples/ground_truth_vs_reconstruction.mp4": video_io.encode_mp4(np.concatenate(halves, axis=2), 30.0)}


PLUGIN = MotionTokenizerPlugin()
