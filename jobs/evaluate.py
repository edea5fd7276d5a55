"""Evaluate a stage on held-out data and print the table (also logged to MLflow).

    python jobs/evaluate.py --stage fit             # SMPL fit from ground-truth 2D keypoints
    python jobs/evaluate.py --stage fit clips=64 noise_px=[0,2,5] sources=[procedural,deepmimic]
    python jobs/evaluate.py --stage fit sources=["bvh ./my_mocap"]  # your files (refused if a prior saw them)
    python jobs/evaluate.py --stage motion_tokenizer --checkpoint runs:/<run id>   # or a folder
    python jobs/evaluate.py --stage video_tokenizer --checkpoint runs:/<run id>    # or cosmos:PATH
    python jobs/evaluate.py --stage unimo --checkpoint runs:/<run id> tokens=./heldout_tokens
    python jobs/evaluate.py --stage v2m_baseline --checkpoint runs:/<run id> tokens=./heldout_tokens   # or the token probe

The held-out corpus is generated with its own seed (default 1000; corpora for training
default to seed 0) unless corpus= names one. For the fit, each of `sources` is rendered
through the corpus job: procedural motion, and real mocap from the registries (the files
held out from every prior and model: bvhtools' test2.bvh, DeepMimic's walk, jump, punch,
dance_b and spin), so the table shows procedural and real side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from unimo.models.unimo.sampling import SamplingConfig
from unimo.pipelines.fit import FitConfig
from unimo.platform import cli, console
from unimo.platform.config import option

TARGETS = {"fit": {0.0: ("PA-MPJPE <= 25 mm, MPJPE <= 50 mm", 25.0, 50.0), 2.0: ("PA-MPJPE <= 35 mm", 35.0, None)},
           "fit_real": {0.0: ("PA-MPJPE <= 35 mm, MPJPE <= 60 mm", 35.0, 60.0), 2.0: ("PA-MPJPE <= 45 mm", 45.0, None)}}


@dataclass
class EvalConfig:
    stage: Literal["fit", "fit_video", "motion_tokenizer", "video_tokenizer", "unimo", "v2m_baseline"] = option(
        "fit", help="what to evaluate ('fit_video': the fit on a real video, with the detector, where no 3D truth exists)")
    checkpoint: str = option("", help="checkpoint folder, state.pt, runs:/<run id> or models:/<name>@champion (video tokenizer: or cosmos:PATH)")
    tokens: str = option("", help="unimo: held-out token shards (default: the validation split of the shards it trained on); "
                                  "v2m_baseline: the held-out token shards to score on (needed)")
    baseline: str = option("", help="unimo: a direct-regression baseline checkpoint (jobs/train.py --stage v2m_baseline) to score beside V2M")
    window: int = option(64, help="motion_tokenizer: frames per evaluated window")
    clip_frames: int = option(17, help="video_tokenizer: frames per evaluated clip (1 + t * k)")
    size: int = option(64, help="video_tokenizer: frame side in pixels (the resolution it trained at)")
    corpus: str = option("", help="held-out corpus URL (default: generate one under UNIMO_HOME/datasets)")
    clips: int = option(32, help="held-out clips (generated)")
    frames: int = option(32, help="frames per held-out clip")
    seed: int = option(1000, help="seed of the held-out corpus")
    noise_px: list[float] = option([0.0, 2.0], help="Gaussian keypoint noise levels, pixels")
    sources: list[str] = option(["procedural", "bvhtools", "deepmimic"],
                                help="fit: motion rendered for the held-out clips: 'procedural', 'bvhtools' or 'deepmimic' (their "
                                     "held-out files), or 'bvh PATH' / 'amass PATH' / 'deepmimic PATH'")
    fit: FitConfig = field(default_factory=FitConfig)
    video: str = option("", help="fit_video: the video (default: sports2d's demo, a real full-body jump, from its wheel)")
    preprocess: list[str] = option(["decode.fps=15", "decode.size=192", "decode.window=32", "decode.stride=32"],
                                   help="fit_video: preprocessing overrides (key=value)")
    overlay: str = option("", help="fit_video: also write the overlay PNG here")
    body_model: str = option("standin", help="'standin' or a path to SMPL_NEUTRAL.pkl")
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(top_k=100))


def held_out_corpus(cfg: EvalConfig, size: int = 128, source: str = "procedural") -> str:
    """A corpus of held-out clips: procedural motion with the evaluation's seed, or a real
    source's held-out files (a user's own files must be unseen by the fit's priors)."""
    import hashlib

    from unimo.pipelines.corpus import REGISTRY_SOURCES, CorpusConfig, build_corpus, motion_files
    from unimo.platform import storage
    from unimo.platform.home import home_path

    if cfg.corpus:
        return storage.resolve(cfg.corpus)
    corpus = CorpusConfig(clips=cfg.clips, frames=cfg.frames, seed=cfg.seed, size=size, body_model=cfg.body_model, source=source,
                          split="held_out")
    kind, path = corpus.source_kind()
    if path:
        from unimo.pipelines.pose_prior import refuse_seen

        refuse_seen(motion_files(corpus))
    name = kind if kind == "procedural" or kind in REGISTRY_SOURCES else f"{kind}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    prefix = "heldout" if kind == "procedural" else f"heldout_{name}"
    out = home_path("datasets", f"{prefix}_seed{cfg.seed}_{cfg.clips}x{cfg.frames}" + (f"_{size}px" if size != 128 else ""))
    build_corpus(corpus, out, progress=False)
    return out


def evaluate_motion_tokenizer(cfg: EvalConfig) -> str:
    import mlflow

    from unimo.models.motion_tokenizer import evaluation as ev
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.platform import body_model

    if not cfg.checkpoint:
        from unimo.models.training.checkpoint import CheckpointError

        raise CheckpointError("stage motion_tokenizer needs checkpoint= (a folder, state.pt, runs:/<run id> or models:/<name>@champion)")
    tok = MotionTokenizerInference.load(cfg.checkpoint)
    kin = body_model.load_kinematics(tok.body_model)
    rows = ["| held-out motion | windows | MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) | codebook usage | perplexity |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    sets = ev.held_out_sets(cfg.window, kin, seen_reference=True)
    for key, (name, data) in sets.items():
        r = ev.evaluate(tok, data)
        mlflow.log_metrics({f"{key}/{k}": v for k, v in r.items()})
        rows.append(f"| {name} | {r['windows']} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['pve_mm']:.1f} | "
                    f"{r['accel_err']:.2f} | {r['codebook_usage']:.0%} | {r['perplexity']:.0f} |")
    m = tok.config
    header = (f"motion tokenizer {cfg.checkpoint}: codebook {m.codebook_size}, stride {m.temporal_stride}, s={m.expansion}, "
              f"experts {m.experts}; {cfg.window}-frame windows at 30 fps")
    # how far the held-out mocap is from every training mocap pose (cut from the whole files)
    training_mocap = ev.mocap_windows(cfg.window, 200, kin, split="train")
    nearest = {key: ev.nearest_pose_mm(sets[key][1], training_mocap, kin) for key in ("mocap", "mocap_seen")}
    mlflow.log_metrics({f"{key}/nearest_training_pose_mm": v for key, v in nearest.items()})
    note = (f"Nearest training pose: the held-out mocap's frames are {nearest['mocap']:.1f} mm (MPJPE, root-relative, facing +z) "
            f"from the closest frame of the training mocap files; the seen windows' are {nearest['mocap_seen']:.1f} mm.")
    return header + "\n\n" + "\n".join(rows) + "\n\n" + note


def evaluate_video_tokenizer(cfg: EvalConfig) -> str:
    import mlflow

    from unimo.models.training.checkpoint import CheckpointError
    from unimo.models.video_tokenizer import evaluation as ev
    from unimo.models.video_tokenizer.api import VideoTokenizerInference

    if not cfg.checkpoint:
        raise CheckpointError("stage video_tokenizer needs checkpoint= (a folder, state.pt, runs:/<run id> or cosmos:PATH)")
    tok = VideoTokenizerInference.load(cfg.checkpoint)
    corpus = held_out_corpus(cfg, size=max(cfg.size, 64))  # rendered at the size training renders at
    rows = ["| held-out video | clips | PSNR (dB) | first-frame PSNR (dB) | body PSNR (dB) | SSIM | codebook usage |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, (name, clips, bodies) in ev.held_out_sets(cfg.clip_frames, cfg.size, corpus).items():
        r = ev.evaluate(tok, clips, bodies)
        mlflow.log_metrics({f"{key}/{k}": v for k, v in r.items()})
        usage = f"{r['codebook_usage']:.0%}" if "codebook_usage" in r else "-"
        body = f"{r['psnr_body']:.2f}" if "psnr_body" in r else "-"
        rows.append(f"| {name} | {r['clips']} | {r['psnr']:.2f} | {r['psnr_first_frame']:.2f} | {body} | {r['ssim']:.3f} | {usage} |")
    header = (f"video tokenizer {cfg.checkpoint}: {tok.temporal_factor}x time, {tok.spatial_factor}x{tok.spatial_factor} space, "
              f"{tok.codebook_size} codes; clips of {cfg.clip_frames} frames at {cfg.size}x{cfg.size}")
    return header + "\n\n" + "\n".join(rows)


def evaluate_unimo(cfg: EvalConfig) -> str:
    import mlflow
    import numpy as np

    from unimo.models.training.checkpoint import CheckpointError
    from unimo.models.unimo import evaluation as ev
    from unimo.models.unimo.api import UniMoInference
    from unimo.models.unimo.data import load_split
    from unimo.models.video_tokenizer.api import VideoTokenizerInference
    from unimo.pipelines.token_loader import load_tokens

    if not cfg.checkpoint:
        raise CheckpointError("stage unimo needs checkpoint= (a folder, state.pt, runs:/<run id> or models:/<name>@champion)")
    model = UniMoInference.load(cfg.checkpoint)
    trained_on = model.train_data
    _, train, val = load_split(trained_on, model.cfg.val_fraction)
    if cfg.tokens:
        model.check_tokens(cfg.tokens)
        _, held_out = load_tokens(cfg.tokens, side_info=False)
        where = f"held-out token shards {cfg.tokens}"
    else:
        held_out, where = val, f"the validation split of {trained_on}"
    results = ev.evaluate(model, held_out, train)
    rows = ["| task | generated tokens | perplexity | next-token accuracy | unigram perplexity | unigram / model |",
            "| --- | --- | --- | --- | --- | --- |"]
    for task, r in results.items():
        mlflow.log_metrics({f"{task}/{k}": v for k, v in r.items()})
        rows.append(f"| {task.upper()} | {r['tokens']:.0f} | {r['perplexity']:.2f} | {r['accuracy']:.1%} | "
                    f"{r['unigram_perplexity']:.2f} | {r['factor']:.2f}x |")
    rows += ["", f"V2M perplexity with another clip's video before each clip's motion: {results['v2m']['perplexity_other_video']:.2f} "
                 f"(with its own: {results['v2m']['perplexity']:.2f}; no higher means V2M does not read the video)"]
    motion_rows = []
    if cfg.tokens:
        tokens, truth = ev.v2m_motion_windows(cfg.tokens)
        if truth:
            from unimo.models.motion_tokenizer.api import MotionTokenizerInference
            from unimo.platform import body_model

            tok = MotionTokenizerInference.load(model.tokens.motion_tokenizer)
            kinematics, fps = body_model.load_kinematics(tok.body_model), model.tokens.fps or 30.0
            common = int(np.bincount(train["motion_tokens"].ravel()).argmax())  # the most frequent training code
            video_tokenizer = VideoTokenizerInference.load(model.tokens.video_tokenizer)
            frames = ev.window_frames(tokens["source"], tokens["start_frame"], model.tokens.frames,
                                      model.tokens.grid[0] * video_tokenizer.spatial_factor)
            others, baseline_reads = {}, ""
            if cfg.baseline:
                from unimo.models.v2m_baseline.api import RegressorInference

                regressor = RegressorInference.load(cfg.baseline)
                others["baseline"], baseline_reads = regressor.predict(frames, video_tokens=tokens["video_tokens"]), regressor.reads
            motion = ev.v2m_motion(model, tok, tokens, truth, kinematics, fps, constant_code=common,
                                   smpl=body_model.load_smpl(tok.body_model), others=others)
            motion_rows = [f"V2M motion against the corpus labels ({len(truth)} windows; root-relative joints, each frame "
                           "turned to face +z):", "",
                           "| motion from | MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) |", "| --- | --- | --- | --- | --- |"]
            for name, r in motion.items():
                mlflow.log_metrics({f"v2m_motion/{name.replace(' ', '_')}/{k}": v for k, v in r.items()})
                label = {"v2m": "V2M tokens (greedy)", "true tokens": "the true tokens (the motion tokenizer's ceiling)",
                         "constant": f"code {common} everywhere (the most frequent: one pose, a floor)",
                         "baseline": f"direct-regression baseline ({cfg.baseline}), from {baseline_reads}"}[name]
                motion_rows.append(f"| {label} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['pve_mm']:.1f} | {r['accel_err']:.2f} |")
            motion_rows += ["", generation_tables(cfg, model, video_tokenizer, tok, tokens, truth, frames, kinematics, fps, motion["v2m"])]
    m, t = model.model.cfg, model.tokens
    header = (f"UniMo {cfg.checkpoint}: {m.n_layer} layers x {m.n_embd} wide, {m.n_head} heads, embeddings {m.embeddings}, "
              f"V2M {model.cfg.v2m_layout}, {model.model.num_params() / 1e6:.2f} M parameters; {len(held_out['video_tokens'])} clips "
              f"of {t.latent_frames} latent frames x {t.grid[0]}x{t.grid[1]} video + {t.motion_per_latent} motion tokens, from {where}; "
              f"unigram counted on {len(train['video_tokens'])} training clips")
    return header + "\n\n" + "\n".join(rows) + ("\n\n" + "\n".join(motion_rows) if motion_rows else "")


def evaluate_v2m_baseline(cfg: EvalConfig) -> str:
    """The direct-regression baseline, or the token probe, on held-out token shards' labelled
    windows: what `--stage unimo baseline=` reports beside V2M, without a UniMo model (the
    probe measures how much of the pose a video tokenizer's tokens keep before UniMo trains)."""
    import mlflow

    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.training.checkpoint import CheckpointError
    from unimo.models.training.data import DataError
    from unimo.models.unimo import evaluation as ev
    from unimo.models.v2m_baseline.api import RegressorInference
    from unimo.models.motion_tokenizer.evaluation import canonical_joints, canonical_vertices
    from unimo.pipelines.token_shards import TokenManifest
    from unimo.platform import body_model

    if not cfg.checkpoint or not cfg.tokens:
        raise CheckpointError("stage v2m_baseline needs checkpoint= (the regressor) and tokens= (held-out token shards)")
    regressor = RegressorInference.load(cfg.checkpoint)
    manifest = TokenManifest.read(cfg.tokens)
    if regressor.cfg.model.input == "video_tokens" and (
            regressor.cfg.video_codes != manifest.video_tokenizer["codebook_size"] or list(regressor.cfg.grid) != list(manifest.grid)):
        raise DataError(f"token shards '{cfg.tokens}' ({manifest.video_tokenizer['codebook_size']} codes, grid {list(manifest.grid)}) "
                        f"are not what the probe {cfg.checkpoint} read ({regressor.cfg.video_codes} codes, grid {list(regressor.cfg.grid)})")
    tokens, truth = ev.v2m_motion_windows(cfg.tokens)
    if not truth:
        raise DataError(f"token shards '{cfg.tokens}' have no window whose source video has corpus labels: nothing to score against")
    frames = None
    if regressor.cfg.model.input == "frames":
        frames = ev.window_frames(tokens["source"], tokens["start_frame"], manifest.frames, manifest.size)
    name = MotionTokenizerInference.load(manifest.motion_tokenizer["source"]).body_model
    kinematics, smpl, fps = body_model.load_kinematics(name), body_model.load_smpl(name), manifest.fps or 30.0
    target = canonical_joints(truth, kinematics).view(len(truth), manifest.frames, -1, 3)
    r = ev.motion_errors(regressor.predict(frames, video_tokens=tokens["video_tokens"]), target, kinematics, fps, smpl,
                         canonical_vertices(truth, smpl))
    mlflow.log_metrics({f"v2m_motion/{k}": v for k, v in r.items()})
    return (f"{cfg.checkpoint}, from {regressor.reads}, on {r['windows']} labelled windows of {cfg.tokens} (root-relative joints, "
            "each frame turned to face +z):\n\n| MPJPE (mm) | PA-MPJPE (mm) | PVE (mm) | accel err (m/s^2) |\n| --- | --- | --- | --- |\n"
            f"| {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | {r['pve_mm']:.1f} | {r['accel_err']:.2f} |")


def generation_tables(cfg: EvalConfig, model, video_tokenizer, motion_tokenizer, tokens, truth, frames, kinematics, fps: float,
                      v2m: dict[str, float]) -> str:
    """I2VM and M2V on the held-out clips with labels (`unimo.models.unimo.consistency`),
    M2V beside `v2m` (V2M's errors on the clips' real video)."""
    import mlflow

    from unimo.models.unimo.consistency import evaluate_generation

    r = evaluate_generation(model, video_tokenizer, motion_tokenizer, tokens, truth, frames, kinematics, fps, cfg.sampling)
    for group, values in r.items():
        mlflow.log_metrics({f"{group}/{k}": v for k, v in values.items()})
    i, m, ref = r["i2vm"], r["m2v"], r["references"]
    s = cfg.sampling
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
    ])


def evaluate_fit_video(cfg: EvalConfig) -> str:
    import io
    import time

    import mlflow

    from unimo.pipelines.fit_eval import evaluate_fit_on_video
    from unimo.pipelines.registry_data import sports2d_demo_video
    from unimo.platform import storage
    from unimo.platform.home import home_path

    video = cfg.video or sports2d_demo_video()
    name = video.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    out = home_path("datasets", f"fit_video_{name}_{int(time.time())}")
    r = evaluate_fit_on_video(video, out, cfg.preprocess, cfg.body_model)
    mlflow.log_metrics({k: v for k, v in r.items() if isinstance(v, float)})
    mlflow.log_image(r["overlay"], "fit_overlay.png")
    if cfg.overlay:
        from PIL import Image  # MLflow's own image dependency

        png = io.BytesIO()
        Image.fromarray(r["overlay"]).save(png, format="PNG")
        storage.write_bytes(storage.resolve(cfg.overlay), png.getvalue())
    return (f"fit on a real video: {video} ({r['windows']} windows, {r['frames']} frames at {r['fps']:g} fps, "
            f"{r['image_size']} px, MediaPipe keypoints)\n\n"
            "| 2D residual (px) | 3D joint jitter (m/s^3) | fit's 2D jitter (px/s^3) | detector keypoints' jitter (px/s^3) | overlay |\n"
            "| --- | --- | --- | --- | --- |\n"
            f"| {r['residual_px']:.2f} | {r['jitter_m_s3']:.1f} | {r['fit_2d_jitter_px_s3']:.0f} | {r['keypoint_jitter_px_s3']:.0f} | "
            f"{r['overlay_window']} |")


def main(cfg: EvalConfig) -> None:
    import mlflow

    from unimo.pipelines.corpus_format import CorpusManifest
    from unimo.pipelines.fit_eval import evaluate_fit
    from unimo.platform import tracking

    if cfg.stage == "fit_video":
        with tracking.start_run("evaluate", cfg, tags={"unimo.eval_stage": cfg.stage}) as run:
            table = evaluate_fit_video(cfg)
            mlflow.log_text(table, "evaluation.md")
        console.say(f"\n{table}\n\nMLflow: {tracking.run_url(run)}")
        return

    if cfg.stage in ("motion_tokenizer", "video_tokenizer", "unimo", "v2m_baseline"):
        evaluate_tokenizer = {"motion_tokenizer": evaluate_motion_tokenizer, "video_tokenizer": evaluate_video_tokenizer,
                              "unimo": evaluate_unimo, "v2m_baseline": evaluate_v2m_baseline}[cfg.stage]
        with tracking.start_run("evaluate", cfg, tags={"unimo.eval_stage": cfg.stage}) as run:
            table = evaluate_tokenizer(cfg)
            mlflow.log_text(table, "evaluation.md")
        console.say(f"\n{table}\n\nMLflow: {tracking.run_url(run)}")
        return
    with tracking.start_run("evaluate", cfg, tags={"unimo.eval_stage": cfg.stage}) as run:
        rows = ["| motion | 2D keypoints | windows | MPJPE (mm) | PA-MPJPE (mm) | 2D residual (px) | converged | fit frames/s a core | "
                "target | met |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for source in ([cfg.corpus] if cfg.corpus else cfg.sources):
            corpus = held_out_corpus(cfg, source=source)
            ids = CorpusManifest.read(corpus).clip_ids
            key = source.split(" ")[0] if not cfg.corpus else "corpus"
            for noise in cfg.noise_px:
                r = evaluate_fit(corpus, ids, noise, cfg.seed, cfg.fit, cfg.body_model)
                mlflow.log_metrics({f"{key}/noise{noise:g}/{k}": v for k, v in r.items() if isinstance(v, float)})
                targets = TARGETS["fit" if key in ("procedural", "corpus") else "fit_real"]
                text, pa_max, mpjpe_max = targets.get(noise, ("-", None, None))
                met = "-" if pa_max is None else ("yes" if r["pa_mpjpe_mm"] <= pa_max and (mpjpe_max is None or r["mpjpe_mm"] <= mpjpe_max) else "no")
                rows.append(f"| {source} | ground truth + {noise:g} px noise | {r['windows']} | {r['mpjpe_mm']:.1f} | {r['pa_mpjpe_mm']:.1f} | "
                            f"{r['residual_px']:.2f} | {r['converged']:.0%} | {r['frames_per_s_core']:.0f} | {text} | {met} |")
        table = "\n".join(rows)
        mlflow.log_text(table, "evaluation.md")
    console.say(f"\nfit evaluation: {cfg.clips} held-out clips of {cfg.frames} frames a source, seed {cfg.seed}\n")
    console.say(table)
    console.say(f"\nMLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, EvalConfig, description=__doc__)
