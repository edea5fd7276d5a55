"""Reconstruction quality of a trained motion tokenizer on held-out motion:

- procedural motion from seeds no training corpus uses (one window per family and seed);
- real motion capture (bvhtools' BVH files, fetched from the package registry), retargeted
  to SMPL, resampled to the model's frame rate and cut into windows: the held-out file, and
  for reference the files a mocap corpus trains on.
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.motion_tokenizer.api import MotionTokenizerInference
from unimo.models.motion_tokenizer.stage import MotionTokenizerStage, MotionTokenizerStageConfig

HELD_OUT_SEED = 424_242  # never a corpus seed


def procedural_windows(frames: int, per_family: int, kinematics, fps: float = 30.0) -> list[dict]:
    from unimo.pipelines import procedural

    rng = np.random.default_rng(HELD_OUT_SEED)
    return [_row(procedural.generate(f, frames, fps, rng, kinematics)) for f in procedural.FAMILIES for _ in range(per_family)]


def mocap_windows(frames: int, max_per_file: int, kinematics, fps: float = 30.0, split: str = "held_out") -> list[dict]:
    """Evenly spaced windows of each BVH file of `split` (see registry_data.bvhtools_mocap)."""
    from unimo.pipelines.corpus import load_motion_file
    from unimo.pipelines.registry_data import bvhtools_mocap

    rows = []
    for path in bvhtools_mocap(split):
        motion = load_motion_file("bvh", path, kinematics, fps)  # parsed once per process
        starts = np.linspace(0, len(motion) - frames, num=max_per_file).astype(int) if len(motion) >= frames else []
        rows += [_row(motion.window(int(s), frames)) for s in starts]
    return rows


def held_out_sets(frames: int, kinematics, seen_reference: bool = False) -> dict[str, tuple[str, list[dict]]]:
    """The held-out sets, key -> (description, windows), the same for evaluate and sweep;
    with `seen_reference`, also windows of the mocap files training uses (for comparison)."""
    sets = {
        # 32 windows a family: ~10,000 tokens, enough for codebook usage to mean something
        "procedural": ("procedural, unseen seeds", procedural_windows(frames, 32, kinematics)),
        "mocap": ("real mocap, held-out file (bvhtools test2.bvh)", mocap_windows(frames, 60, kinematics, split="held_out")),
    }
    if seen_reference:
        sets["mocap_seen"] = ("real mocap, training files (seen; reference only)", mocap_windows(frames, 30, kinematics, split="train"))
    return sets


def canonical_joints(rows: list[dict], kinematics) -> torch.Tensor:
    """Every frame's joints, root-relative and turned to face +z: (frames, 24, 3)."""
    from unimo.platform import motion_features as mf

    poses = torch.as_tensor(np.concatenate([r["poses"] for r in rows])).float()
    betas = torch.as_tensor(np.concatenate([np.repeat(r["betas"][None], len(r["poses"]), 0) for r in rows])).float()
    joints = kinematics(poses, betas, torch.zeros(len(poses), 3))
    unturn = mf.yaw_matrix(-mf.heading(poses[:, None]))
    return torch.einsum("nij,nkj->nki", unturn, joints - joints[:, :1])


def canonical_vertices(rows: list[dict], smpl) -> torch.Tensor:
    """Every frame's mesh, in the frame of `canonical_joints` (minus the root joint, turned
    to face +z): (frames, V, 3), for PVE."""
    from unimo.platform import motion_features as mf

    poses = torch.as_tensor(np.concatenate([r["poses"] for r in rows])).float()
    betas = torch.as_tensor(np.concatenate([np.repeat(r["betas"][None], len(r["poses"]), 0) for r in rows])).float()
    out = smpl(global_orient=poses[:, :3], body_pose=poses[:, 3:], betas=betas)
    unturn = mf.yaw_matrix(-mf.heading(poses[:, None]))
    return torch.einsum("nij,nkj->nki", unturn, out.vertices - out.joints[:, :1])


def nearest_pose_mm(rows: list[dict], reference: list[dict], kinematics, stride: int = 2) -> float:
    """Mean over the frames of `rows` of the MPJPE (mm) to the closest frame of `reference`
    (every `stride`-th): how far a set's poses are from any pose a tokenizer trained on
    `reference` has seen, a floor for one that could only reproduce them."""
    query, bank = canonical_joints(rows, kinematics), canonical_joints(reference, kinematics)[::stride]
    errors = []
    for chunk in query.split(1024):
        nearest = torch.cdist(chunk.flatten(1), bank.flatten(1)).argmin(dim=1)
        errors.append((chunk - bank[nearest]).norm(dim=-1).mean(dim=1))
    return float(torch.cat(errors).mean()) * 1000


def _row(m) -> dict:
    return {"poses": m.poses, "trans": m.trans, "betas": m.betas}


def evaluate(tokenizer: MotionTokenizerInference, rows: list[dict], fps: float = 30.0, batch: int = 32) -> dict[str, float]:
    """The validation metrics of training (MPJPE, PA-MPJPE, PVE, accel error, codebook usage,
    perplexity) over `rows`."""
    stage = MotionTokenizerStage(MotionTokenizerStageConfig(body_model=tokenizer.body_model, fps=fps))
    batches = ({k: torch.as_tensor(np.stack([r[k] for r in rows[i : i + batch]])) for k in ("poses", "trans", "betas")}
               for i in range(0, len(rows), batch))
    with torch.no_grad():
        out = stage.validate(tokenizer.model, batches)
    out["windows"] = len(rows)
    return out


ABLATION_COLUMNS = [("proc. MPJPE (mm)", "procedural/mpjpe_mm", "{:.1f}"), ("proc. PA-MPJPE", "procedural/pa_mpjpe_mm", "{:.1f}"),
                    ("mocap MPJPE (mm)", "mocap/mpjpe_mm", "{:.1f}"), ("mocap PA-MPJPE", "mocap/pa_mpjpe_mm", "{:.1f}"),
                    ("mocap accel (m/s^2)", "mocap/accel_err", "{:.2f}"), ("usage (proc.)", "procedural/codebook_usage", "{:.0%}"),
                    ("usage (mocap)", "mocap/codebook_usage", "{:.0%}")]


def ablation_table(runs: list[dict], seeds: int = 1) -> str:
    """A markdown row per variant (in first-seen order) from runs' metrics: `variant` and the
    held-out sets' `<set>/<metric>`. With several seeds a cell is the mean ± half the range,
    so a gap between rows smaller than the ± is noise; a variant missing seeds says so."""
    by_variant: dict[str, list[dict]] = {}
    for run in runs:
        by_variant.setdefault(run["variant"], []).append(run)
    rows = ["| variant | " + " | ".join(title for title, _, _ in ABLATION_COLUMNS) + " |",
            "| --- |" + " --- |" * len(ABLATION_COLUMNS)]
    for variant, seen in by_variant.items():
        cells = []
        for _, key, fmt in ABLATION_COLUMNS:
            values = [run[key] for run in seen]
            cell = fmt.format(sum(values) / len(values))
            if seeds > 1:
                cell += " ± " + fmt.format((max(values) - min(values)) / 2)
            cells.append(cell)
        missing = "" if len(seen) == seeds else f" ({len(seen)} of {seeds} seeds)"
        rows.append(f"| {variant}{missing} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def score_held_out(tokenizer: MotionTokenizerInference, window: int, kinematics,
                   seen_reference: bool = False) -> dict[str, tuple[str, list[dict], dict[str, float]]]:
    """key -> (description, windows, `evaluate`'s figures) for each of `held_out_sets`."""
    return {key: (label, rows, evaluate(tokenizer, rows))
            for key, (label, rows) in held_out_sets(window, kinematics, seen_reference).items()}


def report(tokenizer: MotionTokenizerInference, name: str, window: int) -> tuple[str, dict[str, float]]:
    """What `jobs/evaluate.py --stage motion_tokenizer` prints: a markdown table of the
    tokenizer (`name`: where it was loaded from) on the held-out procedural and real motion
    (and the seen windows, for reference), how far the held-out mocap lies from the training
    mocap, and the figures as metrics (`<set>/<metric>`)."""
    from unimo.platform import body_model

    kin = body_model.load_kinematics(tokenizer.body_model)
    rows = ["| held-out motion | windows | MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) | codebook usage | perplexity |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    metrics = {}
    scored = score_held_out(tokenizer, window, kin, seen_reference=True)
    for key, (label, _, r) in scored.items():
        metrics.update({f"{key}/{k}": v for k, v in r.items()})
        rows.append(f"| {label} | {r['windows']} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['pve_mm']:.1f} | "
                    f"{r['accel_err']:.2f} | {r['codebook_usage']:.0%} | {r['perplexity']:.0f} |")
    m = tokenizer.config
    header = (f"motion tokenizer {name}: codebook {m.codebook_size}, stride {m.temporal_stride}, s={m.expansion}, "
              f"experts {m.experts}; {window}-frame windows at 30 fps")
    # how far the held-out mocap is from every training mocap pose (cut from the whole files)
    training_mocap = mocap_windows(window, 200, kin, split="train")
    nearest = {key: nearest_pose_mm(scored[key][1], training_mocap, kin) for key in ("mocap", "mocap_seen")}
    metrics.update({f"{key}/nearest_training_pose_mm": v for key, v in nearest.items()})
    note = (f"Nearest training pose: the held-out mocap's frames are {nearest['mocap']:.1f} mm (MPJPE, root-relative, facing +z) "
            f"from the closest frame of the training mocap files; the seen windows' are {nearest['mocap_seen']:.1f} mm.")
    return header + "\n\n" + "\n".join(rows) + "\n\n" + note, metrics
