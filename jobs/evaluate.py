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
    """corpus= if given, else the held-out corpus of this configuration (rendered once)."""
    from unimo.pipelines.corpus import held_out_corpus as rendered
    from unimo.platform import storage

    return storage.resolve(cfg.corpus) if cfg.corpus else rendered(cfg.clips, cfg.frames, cfg.seed, size, source, cfg.body_model)


def needs_checkpoint(cfg: EvalConfig, what: str) -> None:
    from unimo.models.training.checkpoint import CheckpointError

    if not cfg.checkpoint:
        raise CheckpointError(f"stage {cfg.stage} needs checkpoint= ({what})")


def evaluate_fit(cfg: EvalConfig) -> tuple[str, dict[str, float]]:
    from unimo.pipelines import fit_eval

    corpora = ([(cfg.corpus, "corpus", held_out_corpus(cfg))] if cfg.corpus else
               [(source, source.split(" ")[0], held_out_corpus(cfg, source=source)) for source in cfg.sources])
    table, metrics = fit_eval.report(corpora, cfg.noise_px, cfg.seed, cfg.fit, cfg.body_model)
    return f"fit evaluation: {cfg.clips} held-out clips of {cfg.frames} frames a source, seed {cfg.seed}\n\n{table}", metrics


def evaluate_fit_video(cfg: EvalConfig) -> tuple[str, dict[str, float]]:
    import io
    import time

    import mlflow

    from unimo.pipelines import fit_eval
    from unimo.pipelines.registry_data import sports2d_demo_video
    from unimo.platform import storage
    from unimo.platform.home import home_path

    video = cfg.video or sports2d_demo_video()
    name = video.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    r = fit_eval.evaluate_fit_on_video(video, home_path("datasets", f"fit_video_{name}_{int(time.time())}"), cfg.preprocess,
                                       cfg.body_model)
    mlflow.log_image(r["overlay"], "fit_overlay.png")
    if cfg.overlay:
        from PIL import Image  # MLflow's own image dependency

        png = io.BytesIO()
        Image.fromarray(r["overlay"]).save(png, format="PNG")
        storage.write_bytes(storage.resolve(cfg.overlay), png.getvalue())
    return fit_eval.video_table(video, r), {k: v for k, v in r.items() if isinstance(v, float)}


def evaluate_motion_tokenizer(cfg: EvalConfig) -> tuple[str, dict[str, float]]:
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.motion_tokenizer.evaluation import report

    needs_checkpoint(cfg, "a folder, state.pt, runs:/<run id> or models:/<name>@champion")
    return report(MotionTokenizerInference.load(cfg.checkpoint), cfg.checkpoint, cfg.window)


def evaluate_video_tokenizer(cfg: EvalConfig) -> tuple[str, dict[str, float]]:
    from unimo.models.video_tokenizer.api import VideoTokenizerInference
    from unimo.models.video_tokenizer.evaluation import report

    needs_checkpoint(cfg, "a folder, state.pt, runs:/<run id> or cosmos:PATH")
    tokenizer = VideoTokenizerInference.load(cfg.checkpoint)  # before minutes of rendering
    return report(tokenizer, cfg.checkpoint, held_out_corpus(cfg, size=max(cfg.size, 64)), cfg.clip_frames, cfg.size)


def evaluate_unimo(cfg: EvalConfig) -> tuple[str, dict[str, float]]:
    from unimo.models.unimo.api import UniMoInference
    from unimo.models.unimo.evaluation import report

    needs_checkpoint(cfg, "a folder, state.pt, runs:/<run id> or models:/<name>@champion")
    return report(UniMoInference.load(cfg.checkpoint), cfg.checkpoint, cfg.tokens, cfg.baseline, cfg.sampling)


def evaluate_v2m_baseline(cfg: EvalConfig) -> tuple[str, dict[str, float]]:
    from unimo.models.training.checkpoint import CheckpointError
    from unimo.models.v2m_baseline.evaluation import report

    if not cfg.checkpoint or not cfg.tokens:
        raise CheckpointError("stage v2m_baseline needs checkpoint= (the regressor) and tokens= (held-out token shards)")
    return report(cfg.checkpoint, cfg.tokens)


STAGES = {"fit": evaluate_fit, "fit_video": evaluate_fit_video, "motion_tokenizer": evaluate_motion_tokenizer,
          "video_tokenizer": evaluate_video_tokenizer, "unimo": evaluate_unimo, "v2m_baseline": evaluate_v2m_baseline}


def main(cfg: EvalConfig) -> None:
    import mlflow

    from unimo.platform import tracking

    with tracking.start_run("evaluate", cfg, tags={"unimo.eval_stage": cfg.stage}) as run:
        table, metrics = STAGES[cfg.stage](cfg)
        mlflow.log_metrics(metrics)
        mlflow.log_text(table, "evaluation.md")
    console.say(f"\n{table}\n\nMLflow: {tracking.run_url(run)}")


if __name__ == "__main__":
    cli.run(main, EvalConfig, description=__doc__)
