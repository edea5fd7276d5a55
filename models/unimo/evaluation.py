"""How well UniMo predicts held-out token sequences, per task, against a unigram baseline.

For each task, over the generated tokens of held-out clips (the condition is given):
perplexity and next-token accuracy of the model, each position restricted to its
modality's codes (the distribution sampling draws from), and the perplexity of a unigram
model of each modality's codes counted on the training split (add-one smoothed). The
factor unigram / model says how much the model gains from context: the condition and the
tokens already generated. V2M is also scored with each clip's motion after another clip's
video: what reading the video is worth.

For V2M on clips of a corpus with labels, also the motion itself: the V2M tokens decoded by
the motion tokenizer against the true motion, beside the true tokens decoded (the ceiling
the motion tokenizer sets for any V2M model).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from unimo.models.unimo.layout import Layouts
from unimo.models.unimo.stage import task_scores
from unimo.models.unimo.vocabulary import TASKS, Kind


def unigram_log_probs(train: dict[str, np.ndarray], video_codes: int, motion_codes: int) -> dict[Kind, np.ndarray]:
    """Log-probability of each code of each modality, counted on training clips (add-one)."""
    out = {}
    for kind, key, n in ((Kind.VIDEO, "video_tokens", video_codes), (Kind.MOTION, "motion_tokens", motion_codes)):
        counts = np.bincount(train[key].ravel(), minlength=n).astype(np.float64) + 1.0
        out[kind] = np.log(counts / counts.sum())
    return out


def unigram_nll(layouts: Layouts, task: str, video: np.ndarray, motion: np.ndarray, log_probs: dict[Kind, np.ndarray]) -> tuple[float, int]:
    """(summed NLL, tokens) of the unigram model on the generated tokens of `task`."""
    ids = layouts.sequences(torch.as_tensor(video), torch.as_tensor(motion), torch.full((len(video),), Layouts.task_index(task)))
    layout = layouts.tasks[task]
    total, count = 0.0, 0
    for kind, offset in ((Kind.VIDEO, layouts.vocab.video_offset), (Kind.MOTION, layouts.vocab.motion_offset)):
        where = torch.as_tensor(layout.generated & (layout.kinds == kind))
        codes = (ids[:, where] - offset).numpy()
        total -= float(log_probs[kind][codes].sum())
        count += codes.size
    return total, count


@torch.no_grad()
def evaluate(model, held_out: dict[str, np.ndarray], train: dict[str, np.ndarray], batch: int = 32) -> dict[str, dict[str, float]]:
    """Per task: {perplexity, accuracy, unigram_perplexity, factor, tokens} on `held_out` clips."""
    layouts, net = model.layouts, model.model
    device = net.head.weight.device
    log_probs = unigram_log_probs(train, net.cfg.video_codes, net.cfg.motion_codes)
    totals = {t: np.zeros(3) for t in TASKS}
    # V2M again, each clip's motion after another clip's video (half the set away: another
    # source video): a model that reads the video does worse; one that ignores it, no worse
    other_video = np.roll(held_out["video_tokens"], len(held_out["video_tokens"]) // 2, axis=0)
    v2m_other = np.zeros(3)
    for start in range(0, len(held_out["video_tokens"]), batch):
        video = torch.as_tensor(held_out["video_tokens"][start : start + batch]).to(device)
        motion = torch.as_tensor(held_out["motion_tokens"][start : start + batch]).to(device)
        for t, value in task_scores(net, layouts, video, motion).items():
            totals[t] += value
        v2m_other += task_scores(net, layouts, torch.as_tensor(other_video[start : start + batch]).to(device), motion, ("v2m",))["v2m"]
    out = {}
    for t in TASKS:
        nll, correct, n = totals[t]
        u_nll, u_n = unigram_nll(layouts, t, held_out["video_tokens"], held_out["motion_tokens"], log_probs)
        ppl, u_ppl = math.exp(nll / n), math.exp(u_nll / u_n)
        out[t] = {"perplexity": ppl, "accuracy": correct / n, "unigram_perplexity": u_ppl, "factor": u_ppl / ppl, "tokens": n}
    out["v2m"]["perplexity_other_video"] = math.exp(v2m_other[0] / v2m_other[2])
    return out


# -- V2M: does the captured motion match the motion in the video? ------------------------------


def v2m_motion_windows(root: str) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The held-out token rows whose source is a corpus video with labels (their tokens,
    source and start frame), and each one's true motion window (poses, trans, betas), cut
    from the label at its start frame."""
    import os

    from unimo.pipelines import corpus_format
    from unimo.pipelines.token_loader import load_tokens
    from unimo.platform import storage

    manifest, arrays = load_tokens(root, side_info=False, sources=True)
    keep, truth, labels = [], [], {}  # a label is read once, however many windows it holds
    for i, (source, start) in enumerate(zip(arrays["source"], arrays["start_frame"])):
        corpus = os.path.dirname(os.path.dirname(source))
        clip_id = os.path.splitext(os.path.basename(source))[0]
        label = corpus_format.label_path(corpus, clip_id)
        if label not in labels:
            labels[label] = corpus_format.read_label(label) if storage.exists(label) else None
        data = labels[label]
        if data is None:
            continue
        window = slice(int(start), int(start) + manifest.frames)
        keep.append(i)
        truth.append({"poses": data["poses"][window].astype(np.float32), "trans": data["trans"][window].astype(np.float32),
                      "betas": data["betas"].astype(np.float32)})
    return {k: np.asarray(arrays[k])[keep] for k in ("video_tokens", "motion_tokens", "source", "start_frame")}, truth


def window_frames(sources: np.ndarray, starts: np.ndarray, frames: int, size: int) -> np.ndarray:
    """The held-out windows' frames (N, T, size, size, 3) as pre-tokenization cut them: each
    source video decoded once, centre-cropped and resized."""
    from unimo.models.video_tokenizer.data import resize_square
    from unimo.pipelines import video_io
    from unimo.platform import storage

    videos, out = {}, []
    for source, start in zip(sources, starts):
        if source not in videos:
            decoded, _ = video_io.decode(storage.read_bytes(source), name=source)
            videos[source] = resize_square(decoded, size)
        out.append(videos[source][int(start) : int(start) + frames])
    return np.stack(out)


def motion_errors(rows: list[dict], target: torch.Tensor, kinematics, fps: float, smpl=None,
                  target_vertices: torch.Tensor | None = None) -> dict[str, float]:
    """Predicted motions ({poses (T, 72), betas} a window) against the true ones'
    `canonical_joints` (N, T, 24, 3): MPJPE and PA-MPJPE (mm; root-relative, each frame turned
    to face +z: the motion has no camera), accel error (m/s^2), and PVE (mm, same frame) when
    `smpl` and the true `canonical_vertices` are given."""
    from unimo.models.motion_tokenizer.evaluation import canonical_joints, canonical_vertices
    from unimo.platform import motion_metrics

    pred = canonical_joints(rows, kinematics).view(target.shape)
    out = {"mpjpe_mm": float(motion_metrics.mpjpe(pred, target)), "pa_mpjpe_mm": float(motion_metrics.pa_mpjpe(pred, target)),
           "accel_err": float(motion_metrics.accel_error(pred, target, fps)), "windows": len(rows)}
    if smpl is not None and target_vertices is not None:
        out["pve_mm"] = float((canonical_vertices(rows, smpl) - target_vertices).norm(dim=-1).mean() * 1000)
    return out


@torch.no_grad()
def v2m_motion(model, motion_tokenizer, tokens: dict[str, np.ndarray], truth: list[dict], kinematics, fps: float,
               constant_code: int, batch: int = 32, smpl=None, others: dict[str, list[dict]] | None = None
               ) -> dict[str, dict[str, float]]:
    """`motion_errors` of motion decoded from V2M's tokens (greedy); from the true motion
    tokens (the ceiling any V2M model has with this motion tokenizer); from `constant_code`
    at every position (a floor: one pose, whatever the video shows); and of `others`' motions
    (name -> one {poses, betas} a window: another model's, e.g. a baseline's)."""
    from unimo.models.motion_tokenizer.evaluation import canonical_joints, canonical_vertices
    from unimo.models.unimo.sampling import SamplingConfig

    T = len(truth[0]["poses"])
    target = canonical_joints(truth, kinematics).view(len(truth), T, -1, 3)  # once for every row
    target_vertices = None if smpl is None else canonical_vertices(truth, smpl)
    out = {}
    for name in ("v2m", "true tokens", "constant"):
        rows = []
        for s in range(0, len(truth), batch):
            video = torch.as_tensor(tokens["video_tokens"][s : s + batch]).long()
            if name == "v2m":
                _, motion = model.generate("v2m", video=video, sampling=SamplingConfig(temperature=0.0))
            elif name == "true tokens":
                motion = torch.as_tensor(tokens["motion_tokens"][s : s + batch]).long()
            else:
                motion = torch.full_like(torch.as_tensor(tokens["motion_tokens"][s : s + batch]).long(), constant_code)
            rows += decode_motion(motion_tokenizer, motion, T)
        out[name] = motion_errors(rows, target, kinematics, fps, smpl, target_vertices)
    for name, rows in (others or {}).items():
        out[name] = motion_errors(rows, target, kinematics, fps, smpl, target_vertices)
    return out


def decode_motion(motion_tokenizer, codes: torch.Tensor, frames: int) -> list[dict]:
    """Motion codes (B, L, s) of video-aligned clips -> one {poses, trans, betas} a clip."""
    from unimo.models.motion_tokenizer.api import MotionTokens

    pad = motion_tokenizer.config.temporal_stride - 1  # frame 0 was padded like the video's
    poses, trans, betas = motion_tokenizer.decode(MotionTokens(codes.flatten(1), frames=frames, front_pad=pad))
    return [{"poses": p.numpy(), "trans": t.numpy(), "betas": b.numpy()} for p, t, b in zip(poses, trans, betas)]
