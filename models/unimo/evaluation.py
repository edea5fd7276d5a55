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
the motion tokenizer sets for any V2M model). `report` adds I2VM and M2V sampled on those
clips (`consistency`: PSNR, sync, plausibility) and gives the tables `jobs/evaluate.py
--stage unimo` prints.
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


def report(model, name: str, tokens: str = "", baseline: str = "", sampling=None) -> tuple[str, dict[str, float]]:
    """What `jobs/evaluate.py --stage unimo` prints, and its figures as metrics.

    `model`: a `UniMoInference` (`name`: where it was loaded from). Every task's perplexity
    and accuracy against a unigram of the training clips, on the held-out token shards
    `tokens` (default: the validation split of the shards it trained on); where those
    shards' windows have corpus labels, V2M's motion against them (beside the true tokens,
    one code everywhere, and the direct-regression `baseline` when given), and I2VM and M2V
    sampled with `sampling` (a `SamplingConfig`)."""
    from unimo.models.unimo.data import load_split
    from unimo.pipelines.token_loader import load_tokens

    _, train, val = load_split(model.train_data, model.cfg.val_fraction)
    if tokens:
        model.check_tokens(tokens)
        _, held_out = load_tokens(tokens, side_info=False)
        where = f"held-out token shards {tokens}"
    else:
        held_out, where = val, f"the validation split of {model.train_data}"
    if sampling is None:
        from unimo.models.unimo.sampling import SamplingConfig

        sampling = SamplingConfig()
    results = evaluate(model, held_out, train)
    metrics = {f"{task}/{k}": v for task, r in results.items() for k, v in r.items()}
    rows = ["| task | generated tokens | perplexity | next-token accuracy | unigram perplexity | unigram / model |",
            "| --- | --- | --- | --- | --- | --- |"]
    for task, r in results.items():
        rows.append(f"| {task.upper()} | {r['tokens']:.0f} | {r['perplexity']:.2f} | {r['accuracy']:.1%} | "
                    f"{r['unigram_perplexity']:.2f} | {r['factor']:.2f}x |")
    rows += ["", f"V2M perplexity with another clip's video before each clip's motion: {results['v2m']['perplexity_other_video']:.2f} "
                 f"(with its own: {results['v2m']['perplexity']:.2f}; no higher means V2M does not read the video)"]
    motion_rows = []
    if tokens:
        windows, truth = v2m_motion_windows(tokens)
        if truth:
            motion_rows, motion_metrics = _motion_tables(model, windows, truth, train, baseline, sampling)
            metrics.update(motion_metrics)
    m, t = model.model.cfg, model.tokens
    header = (f"UniMo {name}: {m.n_layer} layers x {m.n_embd} wide, {m.n_head} heads, embeddings {m.embeddings}, "
              f"V2M {model.cfg.v2m_layout}, {model.model.num_params() / 1e6:.2f} M parameters; {len(held_out['video_tokens'])} clips "
              f"of {t.latent_frames} latent frames x {t.grid[0]}x{t.grid[1]} video + {t.motion_per_latent} motion tokens, from {where}; "
              f"unigram counted on {len(train['video_tokens'])} training clips")
    return header + "\n\n" + "\n".join(rows) + ("\n\n" + "\n".join(motion_rows) if motion_rows else ""), metrics


def _motion_tables(model, tokens: dict[str, np.ndarray], truth: list[dict], train: dict[str, np.ndarray], baseline: str,
                   sampling) -> tuple[list[str], dict[str, float]]:
    """V2M's motion against the labels of the held-out windows, then I2VM and M2V."""
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.video_tokenizer.api import VideoTokenizerInference
    from unimo.platform import body_model

    tok = MotionTokenizerInference.load(model.tokens.motion_tokenizer)
    kinematics, fps = body_model.load_kinematics(tok.body_model), model.tokens.fps or 30.0
    common = int(np.bincount(train["motion_tokens"].ravel()).argmax())  # the most frequent training code
    video_tokenizer = VideoTokenizerInference.load(model.tokens.video_tokenizer)
    frames = window_frames(tokens["source"], tokens["start_frame"], model.tokens.frames,
                           model.tokens.grid[0] * video_tokenizer.spatial_factor)
    others, baseline_reads = {}, ""
    if baseline:
        from unimo.models.v2m_baseline.api import RegressorInference

        regressor = RegressorInference.load(baseline)
        others["baseline"], baseline_reads = regressor.predict(frames, video_tokens=tokens["video_tokens"]), regressor.reads
    motion = v2m_motion(model, tok, tokens, truth, kinematics, fps, constant_code=common,
                        smpl=body_model.load_smpl(tok.body_model), others=others)
    metrics = {f"v2m_motion/{name.replace(' ', '_')}/{k}": v for name, r in motion.items() for k, v in r.items()}
    rows = [f"V2M motion against the corpus labels ({len(truth)} windows; root-relative joints, each frame "
            "turned to face +z):", "",
            "| motion from | MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) |", "| --- | --- | --- | --- | --- |"]
    for name, r in motion.items():
        label = {"v2m": "V2M tokens (greedy)", "true tokens": "the true tokens (the motion tokenizer's ceiling)",
                 "constant": f"code {common} everywhere (the most frequent: one pose, a floor)",
                 "baseline": f"direct-regression baseline ({baseline}), from {baseline_reads}"}[name]
        rows.append(f"| {label} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['pve_mm']:.1f} | {r['accel_err']:.2f} |")
    generation, generation_metrics = _generation_table(model, video_tokenizer, tok, tokens, truth, frames, kinematics, fps, sampling,
                                                       motion["v2m"])
    return rows + ["", generation], {**metrics, **generation_metrics}


def _generation_table(model, video_tokenizer, motion_tokenizer, tokens, truth, frames, kinematics, fps: float, sampling,
                      v2m: dict[str, float]) -> tuple[str, dict[str, float]]:
    """I2VM and M2V on the held-out clips with labels (`unimo.models.unimo.consistency`),
    M2V beside `v2m` (V2M's errors on the clips' real video)."""
    from unimo.models.unimo.consistency import evaluate_generation

    r = evaluate_generation(model, video_tokenizer, motion_tokenizer, tokens, truth, frames, kinematics, fps, sampling)
    metrics = {f"{group}/{k}": v for group, values in r.items() for k, v in values.items()}
    i, m, ref = r["i2vm"], r["m2v"], r["references"]
    s = sampling
    return "\n".join([
        f"I2VM from each clip's first frame and M2V from its true motion ({i['clips']} clips; sampling temperature {s.temperature:g}, "
        f"top-k {s.top_k}, top-p {s.top_p:g}, guidance {s.guidance:g}, seed {s.seed}; V2M greedy):", "",
        "| I2VM | value | reference |", "| --- | --- | --- |",
        f"| PSNR of the generated frames (dB) | {i['psnr']:.2f} | tokenizer's reconstruction {ref['psnr_tokenizer']:.2f}; "
        f"first frame held still {ref['psnr_still_image']:.2f} |",
        f"| sync: PA-MPJPE, generated motion vs V2M on the generated video (mm) | {i['sync_pa_mpjpe_mm']:.1f} | "
        f"against another clip's video {ref['sync_mismatched_pa_mpjpe_mm']:.1f} |",
        f"| sync: MPJPE (mm) | {i['sync_mpjpe_mm']:.1f} | against another clip's video {ref['sync_mismatched_mpjpe_mm']:.1f} |",
        f"| foot skating (share of frames) | {i['foot_skating']:.3f} | true motion {ref['truth_foot_skating']:.3f} |",
        f"| jitter (m/s^3) | {i['jitter_m_s3']:.1f} | true motion {ref['truth_jitter_m_s3']:.1f} |",
        f"| joint-limit violations (share of joint rotations) | {i['joint_limit_violations']:.4f} | "
        f"true motion {ref['truth_joint_limit_violations']:.4f} |", "",
        "| M2V: V2M on the generated video against the input motion | MPJPE (mm) | PA-MPJPE (mm) |", "| --- | --- | --- |",
        f"| generated video | {m['mpjpe_mm']:.1f} | {m['pa_mpjpe_mm']:.1f} |",
        f"| the clip's real video (reference) | {v2m['mpjpe_mm']:.1f} | {v2m['pa_mpjpe_mm']:.1f} |",
    ]), metrics
