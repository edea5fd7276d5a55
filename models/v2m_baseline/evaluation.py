"""The direct-regression baseline, or the token probe, scored alone on held-out token shards'
labelled windows: what `jobs/evaluate.py --stage unimo baseline=` reports beside V2M, without
a UniMo model (the probe measures how much of the pose a video tokenizer's tokens keep
before UniMo trains)."""

from __future__ import annotations

from unimo.models.motion_tokenizer.evaluation import canonical_joints, canonical_vertices
from unimo.models.unimo.evaluation import motion_errors, v2m_motion_windows, window_frames


def report(checkpoint: str, tokens: str) -> tuple[str, dict[str, float]]:
    """What `jobs/evaluate.py --stage v2m_baseline` prints: the regressor at `checkpoint` on
    the labelled windows of the token shards `tokens`, and its errors as metrics."""
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.training.data import DataError
    from unimo.models.v2m_baseline.api import RegressorInference
    from unimo.pipelines.token_shards import TokenManifest
    from unimo.platform import body_model

    regressor = RegressorInference.load(checkpoint)
    manifest = TokenManifest.read(tokens)
    if regressor.cfg.model.input == "video_tokens" and (
            regressor.cfg.video_codes != manifest.video_tokenizer["codebook_size"] or list(regressor.cfg.grid) != list(manifest.grid)):
        raise DataError(f"token shards '{tokens}' ({manifest.video_tokenizer['codebook_size']} codes, grid {list(manifest.grid)}) "
                        f"are not what the probe {checkpoint} read ({regressor.cfg.video_codes} codes, grid {list(regressor.cfg.grid)})")
    windows, truth = v2m_motion_windows(tokens)
    if not truth:
        raise DataError(f"token shards '{tokens}' have no window whose source video has corpus labels: nothing to score against")
    frames = None
    if regressor.cfg.model.input == "frames":
        frames = window_frames(windows["source"], windows["start_frame"], manifest.frames, manifest.size)
    name = MotionTokenizerInference.load(manifest.motion_tokenizer["source"]).body_model
    kinematics, smpl, fps = body_model.load_kinematics(name), body_model.load_smpl(name), manifest.fps or 30.0
    target = canonical_joints(truth, kinematics).view(len(truth), manifest.frames, -1, 3)
    r = motion_errors(regressor.predict(frames, video_tokens=windows["video_tokens"]), target, kinematics, fps, smpl,
                      canonical_vertices(truth, smpl))
    table = (f"{checkpoint}, from {regressor.reads}, on {r['windows']} labelled windows of {tokens} (root-relative joints, "
             "each frame turned to face +z):\n\n| MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) |\n| --- | --- | --- | --- |\n"
             f"| {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['pve_mm']:.1f} | {r['accel_err']:.2f} |")
    return table, {f"v2m_motion/{k}": v for k, v in r.items()}
