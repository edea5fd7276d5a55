"""jobs/generate.py and jobs/mocap.py end to end on tiny (untrained) checkpoints of the three
models: I2VM, M2V and V2M write videos that decode and motion files the AMASS importer reads
back; bad inputs get one line."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from support import run_job, write_token_shards

from unimo.models.motion_tokenizer.model import MotionTokenizer, MotionTokenizerConfig
from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig
from unimo.models.training import checkpoint
from unimo.models.unimo.data import TokenSource
from unimo.models.unimo.model import UniMo, UniMoConfig
from unimo.models.unimo.stage import UniMoStageConfig
from unimo.models.video_tokenizer.model import VideoTokenizerConfig
from unimo.models.video_tokenizer.stage import VideoTokenizerStageConfig, VideoTokenizerTraining
from unimo.pipelines import video_io
from unimo.pipelines.amass import load_amass, save_amass
from unimo.pipelines.motion import Motion
from unimo.pipelines.token_shards import TokenManifest
from unimo.platform import body_model
from unimo.platform import motion_features as mf
from unimo.platform.config import to_dict


def save(folder, stage: str, model: torch.nn.Module, stage_config, train_config: dict | None = None) -> str:
    checkpoint.save(str(folder), model=model, optimizer=None, step=0,
                    config={"stage": stage, "stage_config": to_dict(stage_config), "train_config": train_config or {}})
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained tiny tokenizers, token shards naming them, and a UniMo checkpoint trained on none."""
    root = tmp_path_factory.mktemp("generate")
    torch.manual_seed(0)
    vt_cfg = VideoTokenizerStageConfig(model=VideoTokenizerConfig(hidden=16, depth=1, levels=[5, 5, 5]))
    vt = save(root / "vt", "video_tokenizer", VideoTokenizerTraining(vt_cfg), vt_cfg)
    mt_cfg = MotionTokenizerStageConfig(model=MotionTokenizerConfig(codebook_size=16, code_dim=8, hidden=16, depth=1),
                                        feature_mean=[0.0] * mf.FEATURE_DIM, feature_std=[1.0] * mf.FEATURE_DIM)
    mt = save(root / "mt", "motion_tokenizer", MotionTokenizer(mt_cfg.model, torch.zeros(mf.FEATURE_DIM), torch.ones(mf.FEATURE_DIM)), mt_cfg)
    tokens = write_token_shards(root / "tokens", sources=4, latent=3, grid=(4, 4), s=2, video_codes=125, motion_codes=16,
                                video_tokenizer=vt, motion_tokenizer=mt, size=32)
    source = TokenSource.of(TokenManifest.read(tokens))
    st = UniMoStageConfig(model=UniMoConfig(n_layer=1, n_head=2, n_embd=32, video_codes=125, motion_codes=16,
                                            max_seq_len=source.token_grid.sequence_length), tokens=source)
    unimo = save(root / "unimo", "unimo", UniMo(st.model), st, {"data": tokens})
    image = root / "person.png"
    frame = av.VideoFrame.from_ndarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "rgb24"
    image.write_bytes(b"".join(bytes(p) for p in [*codec.encode(frame), *codec.encode(None)]))
    return {"vt": vt, "mt": mt, "unimo": unimo, "image": str(image), "root": root}


def test_amass_files_round_trip(tmp_path):
    kin = body_model.load_kinematics()
    rng = np.random.default_rng(0)
    motion = Motion(rng.normal(0, 0.3, (9, 72)), rng.normal(0, 1, (9, 3)), rng.normal(0, 1, 10), 30.0)
    path = str(tmp_path / "motion.npz")
    save_amass(path, motion, kin)
    back = load_amass(path, kin)
    assert np.allclose(back.poses[:, :66], motion.poses[:, :66], atol=1e-5) and np.allclose(back.trans, motion.trans, atol=1e-5)
    assert np.allclose(back.betas, motion.betas) and back.fps == 30.0


def test_i2vm_and_m2v_write_videos_that_decode_and_motion_the_importer_reads(models, tmp_path):
    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    out = run_job("generate.py", f"--image={models['image']}", f"--out={tmp_path / 'i2vm'}", f"--checkpoint={models['unimo']}",
                  "samples=2", "sampling.top_k=10", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    kin = body_model.load_kinematics()
    for i in range(2):
        video, _ = video_io.decode((tmp_path / "i2vm" / f"video_{i}.mp4").read_bytes())
        side, _ = video_io.decode((tmp_path / "i2vm" / f"side_by_side_{i}.mp4").read_bytes())
        assert video.shape == (9, 32, 32, 3) and side.shape == (9, 32, 64, 3)
        motion = load_amass(str(tmp_path / "i2vm" / f"motion_{i}.npz"), kin)
        assert motion.poses.shape == (9, 72) and motion.fps == 30.0 and np.isfinite(motion.trans).all()
    # M2V from the motion I2VM wrote
    out = run_job("generate.py", "--task=m2v", f"--motion={tmp_path / 'i2vm' / 'motion_0.npz'}", f"--out={tmp_path / 'm2v'}",
                  f"--checkpoint={models['unimo']}", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    video, _ = video_io.decode((tmp_path / "m2v" / "video.mp4").read_bytes())
    assert video.shape == (9, 32, 32, 3)
    assert str(tmp_path / "m2v" / "side_by_side.mp4") in out.stdout


def test_mocap_captures_a_video_longer_than_a_window_and_joins_the_windows(models, tmp_path):
    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    rng = np.random.default_rng(1)
    video = tmp_path / "walk.mp4"  # 40 frames at 25 fps: 48 frames at the model's 30 fps, six 9-frame windows
    video.write_bytes(video_io.encode_mp4(rng.integers(0, 255, (40, 48, 40, 3), dtype=np.uint8), 25.0))
    out = run_job("mocap.py", str(video), f"--out={tmp_path / 'mocap'}", f"--checkpoint={models['unimo']}", "overlap=2",
                  "sampling.temperature=1.0", "overlay=false", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "48 frames at 30 fps" in out.stdout
    motion = load_amass(str(tmp_path / "mocap" / "motion.npz"), body_model.load_kinematics())
    assert motion.poses.shape == (48, 72) and motion.fps == 30.0
    # no jumps at the seams: the root moves no more from one frame to the next at a seam than inside a window
    step = np.linalg.norm(np.diff(motion.trans, axis=0), axis=1)
    assert step.max() < 0.5, step
    side, _ = video_io.decode((tmp_path / "mocap" / "side_by_side.mp4").read_bytes())
    assert side.shape == (48, 32, 64, 3)
    bad = run_job("mocap.py", str(tmp_path / "missing.mp4"), f"--out={tmp_path / 'x'}", f"--checkpoint={models['unimo']}", env=env)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1 and "missing.mp4" in bad.stderr


def test_mocap_draws_the_body_over_a_rendered_clip_through_a_fitted_camera(models, tmp_path):
    from unimo.pipelines.corpus import CorpusConfig, build_corpus

    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    build_corpus(CorpusConfig(clips=1, frames=20, size=64, seed=2), tmp_path / "corpus", progress=False, use_ray=False)
    video = tmp_path / "corpus" / "videos" / "clip_000000.mp4"  # its label beside it gives the keypoints
    out = run_job("mocap.py", str(video), f"--out={tmp_path / 'mocap'}", f"--checkpoint={models['unimo']}", "overlay_size=64",
                  env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "px from the person's keypoints" in out.stdout and str(tmp_path / "mocap" / "overlay.mp4") in out.stdout
    overlay, _ = video_io.decode((tmp_path / "mocap" / "overlay.mp4").read_bytes())
    frames, _ = video_io.decode(video.read_bytes())
    assert overlay.shape == (20, 64, 64, 3)
    changed = (np.abs(overlay.astype(int) - frames.astype(int)).max(-1) > 40).mean((1, 2))
    assert (changed > 0.01).all()  # the body is drawn in every frame


def test_window_starts_cover_the_video_and_cross_fades_join_smoothly():
    from unimo.models.unimo.stitching import cross_fade, window_starts

    assert window_starts(48, 9, 2) == [0, 7, 14, 21, 28, 35, 39]
    assert window_starts(9, 9, 2) == [0] and window_starts(5, 9, 2) == [0]
    old, new = np.zeros((4, 72)), np.full((4, 72), 0.4)
    poses, trans = cross_fade(old, np.zeros((4, 3)), new, np.ones((4, 3)))
    assert np.allclose(trans[:, 0], [0.2, 0.4, 0.6, 0.8]) and (np.diff(poses[:, 0]) > 0).all() and 0 < poses[0, 0] < poses[-1, 0] < 0.4


def test_bad_inputs_are_one_line_errors(models, tmp_path):
    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"not an image at all")
    cases = [
        ([f"--image={tmp_path / 'missing.png'}", f"--checkpoint={models['unimo']}"], str(tmp_path / "missing.png")),
        ([f"--image={garbage}", f"--checkpoint={models['unimo']}"], f"{garbage}: cannot decode"),
        ([f"--image={models['image']}", f"--checkpoint={models['vt']}"], "is a video_tokenizer checkpoint, not a unimo"),
        ([f"--image={models['image']}", f"--checkpoint={tmp_path / 'nothing'}"], "not found"),
        (["--task=m2v", f"--motion={garbage}", f"--checkpoint={models['unimo']}"], "is neither an AMASS .npz nor a .bvh file"),
    ]
    for args, expected in cases:
        out = run_job("generate.py", *args, f"--out={tmp_path / 'out'}", env=env, timeout=300)
        lines = out.stderr.strip().splitlines()
        assert out.returncode != 0 and len(lines) == 1 and expected in lines[0], out.stderr[-2000:]


def test_v2m_motion_errors_are_zero_for_the_motion_the_true_tokens_decode_to(models):
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference, MotionTokens
    from unimo.models.unimo import evaluation as ev
    from unimo.models.unimo.api import UniMoInference

    model, tok = UniMoInference.load(models["unimo"]), MotionTokenizerInference.load(models["mt"])
    g = torch.Generator().manual_seed(0)
    tokens = {"video_tokens": torch.randint(0, 125, (6, 3, 4, 4), generator=g).numpy(),
              "motion_tokens": torch.randint(0, 16, (6, 3, 2), generator=g).numpy()}
    poses, _, betas = tok.decode(MotionTokens(torch.as_tensor(tokens["motion_tokens"]).flatten(1), frames=9, front_pad=3))
    truth = [{"poses": p.numpy(), "betas": b.numpy()} for p, b in zip(poses, betas)]
    r = ev.v2m_motion(model, tok, tokens, truth, body_model.load_kinematics(), 30.0, constant_code=0)
    assert r["true tokens"]["mpjpe_mm"] < 1e-3 and r["true tokens"]["accel_err"] < 1e-3
    assert r["constant"]["mpjpe_mm"] > 1.0 and r["v2m"]["windows"] == 6


def test_generation_scores_sync_plausibility_and_m2v_on_a_tiny_model(models):
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.unimo.api import UniMoInference
    from unimo.models.unimo.consistency import evaluate_generation, sync_error
    from unimo.models.unimo.evaluation import decode_motion
    from unimo.models.video_tokenizer.api import VideoTokenizerInference

    model, tok, vt = UniMoInference.load(models["unimo"]), MotionTokenizerInference.load(models["mt"]), VideoTokenizerInference.load(models["vt"])
    kin = body_model.load_kinematics()
    g = torch.Generator().manual_seed(1)
    tokens = {"video_tokens": torch.randint(0, 125, (5, 3, 4, 4), generator=g).numpy(),
              "motion_tokens": torch.randint(0, 16, (5, 3, 2), generator=g).numpy()}
    truth = decode_motion(tok, torch.as_tensor(tokens["motion_tokens"]), 9)
    # a generated motion identical to what V2M recaptures has sync 0; two different motions do not
    assert sync_error(truth, truth, kin)["pa_mpjpe_mm"] < 1e-3
    assert sync_error(truth, truth[1:] + truth[:1], kin)["mpjpe_mm"] > 1.0
    frames = vt.decode(torch.as_tensor(tokens["video_tokens"]))  # the clips exactly as the tokenizer rebuilds them
    r = evaluate_generation(model, vt, tok, tokens, truth, frames, kin, 30.0, batch=2)
    assert r["references"]["psnr_tokenizer"] > 100  # its own reconstruction: identical frames
    assert r["references"]["psnr_still_image"] < 40 and r["i2vm"]["psnr"] < 40
    assert r["i2vm"]["clips"] == r["m2v"]["clips"] == 5
    assert all(np.isfinite(v) for group in r.values() for v in group.values())
    for key in ("foot_skating", "joint_limit_violations"):
        assert 0.0 <= r["i2vm"][key] <= 1.0 and 0.0 <= r["references"][f"truth_{key}"] <= 1.0


def test_evaluate_scores_every_task_and_the_baseline_on_labelled_held_out_clips(models, tmp_path):
    from unimo.models.v2m_baseline.model import DirectRegressor, RegressorConfig
    from unimo.models.v2m_baseline.stage import V2MBaselineStageConfig
    from unimo.pipelines.corpus import CorpusConfig, build_corpus

    build_corpus(CorpusConfig(clips=4, frames=18, size=32, seed=6), str(tmp_path / "corpus"), progress=False, use_ray=False)
    held_out = write_token_shards(tmp_path / "held_out", sources=4, latent=3, grid=(4, 4), s=2, video_codes=125, motion_codes=16,
                                  video_tokenizer=models["vt"], motion_tokenizer=models["mt"], size=32, corpus=str(tmp_path / "corpus"))
    cfg = V2MBaselineStageConfig(model=RegressorConfig(channels=8, width=32, temporal_blocks=1), size=32, frames=9)
    baseline = save(tmp_path / "baseline", "v2m_baseline", DirectRegressor(cfg.model, 32), cfg)
    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    out = run_job("evaluate.py", "--stage", "unimo", f"--checkpoint={models['unimo']}", f"tokens={held_out}", f"baseline={baseline}",
                  env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for row in ("| V2M tokens (greedy) |", "| direct-regression baseline", "| sync: PA-MPJPE", "| foot skating", "| generated video |"):
        assert row in out.stdout, out.stdout[-3000:]
    # the baseline alone (no UniMo model) scores the same windows the same
    (beside_v2m,) = [line.split("|")[2:6] for line in out.stdout.splitlines() if line.startswith("| direct-regression baseline")]
    alone = run_job("evaluate.py", "--stage", "v2m_baseline", f"--checkpoint={baseline}", f"tokens={held_out}", env=env, timeout=300)
    assert alone.returncode == 0, alone.stderr[-3000:]
    lines = alone.stdout.splitlines()
    row = lines[lines.index("| --- | --- | --- | --- |") + 1]
    assert [float(x) for x in row.split("|")[1:5]] == [float(x) for x in beside_v2m], (row, beside_v2m)
    bad = run_job("evaluate.py", "--stage", "unimo", f"--checkpoint={models['unimo']}", f"tokens={held_out}", f"baseline={models['vt']}",
                  env=env, timeout=300)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode != 0 and len(lines) == 1 and "not a v2m baseline" in lines[0], bad.stderr[-2000:]
