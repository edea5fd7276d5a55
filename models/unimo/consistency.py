"""Do UniMo's generated video and motion agree, and does each look right? I2VM and M2V scored
on held-out clips whose corpus labels give the true motion.

- **I2VM** from each clip's first frame (its first latent frame of video tokens):
  - PSNR of the generated frames after the first (which is given) against the clip, beside
    two references: the video tokenizer's reconstruction of the clip (the ceiling any model
    has with this tokenizer) and the first frame held still (what copying the image gets);
  - **sync**: PA-MPJPE between the generated motion and V2M (greedy) run on the generated
    video. V2M reads the generated video tokens themselves: decoding them to pixels and
    encoding again would only add the tokenizer's error. Sync is informative only where
    it beats the same against V2M on *another* clip's generated video (mismatched pairs),
    which is reported beside it;
  - plausibility of the generated motion: foot skating, jitter and joint-limit violations
    (`metrics`), beside the same on the clips' true motion.
- **M2V** from the clip's true motion tokens: V2M run on the generated video against the
  true motion (MPJPE, PA-MPJPE), to read beside V2M on the clip's real video
  (`evaluation.v2m_motion`).

Joint errors are root-relative, each frame turned to face +z (as the V2M evaluation's);
plausibility is measured on world-frame joints (y up).
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.unimo.evaluation import decode_motion
from unimo.models.unimo.sampling import SamplingConfig
from unimo.platform import motion_metrics

GREEDY = SamplingConfig(temperature=0.0)


def sync_error(reference: list[dict], recaptured: list[dict], kinematics) -> dict[str, float]:
    """MPJPE and PA-MPJPE (mm) of `recaptured` against `reference`, motions of the same
    clips: 0 when they agree (Procrustes aligns the recaptured motion to the reference)."""
    from unimo.models.motion_tokenizer.evaluation import canonical_joints

    target, pred = canonical_joints(reference, kinematics), canonical_joints(recaptured, kinematics)
    return {"mpjpe_mm": float(motion_metrics.mpjpe(pred, target)), "pa_mpjpe_mm": float(motion_metrics.pa_mpjpe(pred, target))}


def plausibility(motion: list[dict], kinematics, fps: float) -> dict[str, float]:
    """Foot skating ratio, jitter (m/s^3) and joint-limit violations of world-frame motions."""
    poses = torch.as_tensor(np.stack([m["poses"] for m in motion])).float()
    trans = torch.as_tensor(np.stack([m["trans"] for m in motion])).float()
    betas = torch.as_tensor(np.stack([np.broadcast_to(m["betas"], (len(m["poses"]), len(m["betas"]))) for m in motion])).float()
    B, T = poses.shape[:2]
    joints = kinematics(poses.flatten(0, 1), betas.flatten(0, 1), trans.flatten(0, 1)).view(B, T, -1, 3)
    return {"foot_skating": float(motion_metrics.foot_skating_ratio(joints, fps)), "jitter_m_s3": float(motion_metrics.jitter(joints, fps)),
            "joint_limit_violations": float(motion_metrics.joint_limit_violations(poses))}


def _psnr(frames: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB) of 8-bit frames after the first (the given image), averaged over frames."""
    err = ((frames[:, 1:].astype(np.float64) - truth[:, 1:].astype(np.float64)) ** 2).mean(axis=(-3, -2, -1))
    return float((10 * np.log10(255.0**2 / np.maximum(err, 1e-10))).mean())


@torch.no_grad()
def evaluate_generation(model, video_tokenizer, motion_tokenizer, tokens: dict[str, np.ndarray], truth: list[dict],
                        frames: np.ndarray, kinematics, fps: float, sampling: SamplingConfig = SamplingConfig(),
                        batch: int = 16) -> dict[str, dict[str, float]]:
    """I2VM and M2V on held-out clips (`v2m_motion_windows`' tokens and truth; `frames` the
    clips' pixels): {i2vm, m2v, references} -> metric -> value."""
    T = frames.shape[1]
    video_true = torch.as_tensor(tokens["video_tokens"]).long()
    motion_true = torch.as_tensor(tokens["motion_tokens"]).long()
    runs = {k: [] for k in ("i2vm_frames", "i2vm_motion", "i2vm_recaptured", "m2v_recaptured", "recon")}
    for s in range(0, len(video_true), batch):
        video, motion = video_true[s : s + batch], motion_true[s : s + batch]
        first = torch.zeros_like(video)
        first[:, 0] = video[:, 0]  # I2VM reads V_0 only
        gen_video, gen_motion = model.generate("i2vm", video=first, sampling=sampling)
        runs["i2vm_frames"].append(video_tokenizer.decode(gen_video))
        runs["i2vm_motion"] += decode_motion(motion_tokenizer, gen_motion, T)
        runs["i2vm_recaptured"] += decode_motion(motion_tokenizer, model.generate("v2m", video=gen_video, sampling=GREEDY)[1], T)
        m2v_video, _ = model.generate("m2v", motion=motion, sampling=sampling)
        runs["m2v_recaptured"] += decode_motion(motion_tokenizer, model.generate("v2m", video=m2v_video, sampling=GREEDY)[1], T)
        runs["recon"].append(video_tokenizer.decode(video))
    generated = np.concatenate(runs["i2vm_frames"])
    still = np.repeat(frames[:, :1], T, axis=1)
    mismatched = runs["i2vm_recaptured"][1:] + runs["i2vm_recaptured"][:1]  # each clip's motion against the next clip's video
    i2vm = {"psnr": _psnr(generated, frames), **{f"sync_{k}": v for k, v in sync_error(runs["i2vm_motion"], runs["i2vm_recaptured"], kinematics).items()},
            **plausibility(runs["i2vm_motion"], kinematics, fps), "clips": len(frames)}
    m2v = {**sync_error(truth, runs["m2v_recaptured"], kinematics), "clips": len(frames)}
    references = {
        "psnr_tokenizer": _psnr(np.concatenate(runs["recon"]), frames), "psnr_still_image": _psnr(still, frames),
        **{f"sync_mismatched_{k}": v for k, v in sync_error(runs["i2vm_motion"], mismatched, kinematics).items()},
        **{f"truth_{k}": v for k, v in plausibility(truth, kinematics, fps).items()},
    }
    return {"i2vm": i2vm, "m2v": m2v, "references": references}
