"""The end-to-end demo: every stage that exists, on embedded defaults, tracked in MLflow.

    python jobs/demo.py                       # what `make demo` runs
    python jobs/demo.py corpus.clips=32       # any stage's config, by its section

Stages:
  1. corpus: a synthetic human-video corpus with 3D ground truth (jobs/make_corpus.py);
  2. preprocess: the corpus's videos through Ray Data into training shards, with SMPL
     pseudo-labels fitted to its 2D keypoints (jobs/preprocess.py);
  3. train: a small motion tokenizer on those shards with Ray Train (jobs/train.py);
  4. train: a small video tokenizer on the corpus's videos (jobs/train.py --stage video_tokenizer);
  5. pretokenize: the corpus into token shards with both tokenizers (jobs/pretokenize.py),
     what the autoregressive model trains on;
  6. train: a tiny UniMo transformer on those token shards (jobs/train.py --stage unimo);
  7. evaluate it: every task's perplexity, V2M's motion, I2VM's sync and plausibility, M2V
     (jobs/evaluate.py --stage unimo), on the demo's own windows: a smoke run of the
     evaluation, not a held-out score;
  8. use it: motion capture from one corpus video (jobs/mocap.py), and video and motion
     generated from another's first frame (jobs/generate.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from unimo.models.training.loop import TrainerConfig
from unimo.models.unimo.model import UniMoConfig
from unimo.models.unimo.stage import UniMoStageConfig
from unimo.models.video_tokenizer.model import VideoTokenizerConfig
from unimo.models.video_tokenizer.stage import VideoDataConfig, VideoLossConfig, VideoTokenizerStageConfig
from unimo.pipelines.corpus import CorpusConfig
from unimo.pipelines.decode import DecodeConfig
from unimo.pipelines.fit import FitConfig
from unimo.platform import cli, console
from unimo.platform.config import option
from unimo.platform.home import home_path


@dataclass
class DemoConfig:
    out: str = option("", help="output URL (default: UNIMO_HOME/datasets/demo)")
    corpus: CorpusConfig = field(default_factory=lambda: CorpusConfig(clips=8, frames=64))
    decode: DecodeConfig = field(default_factory=lambda: DecodeConfig(window=32, stride=32))
    fit: FitConfig = field(default_factory=lambda: FitConfig(iterations=150, headings=2))
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(steps=60, batch_size=8, checkpoint_every=30,
                                                                           eval_every=30, log_every=10, warmup_steps=5, lr=1e-3))
    video_tokenizer: VideoTokenizerStageConfig = field(default_factory=lambda: VideoTokenizerStageConfig(
        model=VideoTokenizerConfig(hidden=32, depth=1, levels=[8, 5, 5, 5]), loss=VideoLossConfig(body_weight=20.0),
        data=VideoDataConfig(frames=17, size=64, val_clips=8)))
    unimo: UniMoStageConfig = field(default_factory=lambda: UniMoStageConfig(model=UniMoConfig(n_layer=2, n_head=2, n_embd=64)))


def main(cfg: DemoConfig) -> None:
    from unimo.models.pretokenize import PretokenizeConfig, run_pretokenize
    from unimo.models.training.session import TrainConfig, train_stage
    from unimo.pipelines.corpus import run_tracked
    from unimo.pipelines.preprocess import PreprocessConfig, run_preprocess
    from unimo.platform import storage, tracking

    out = storage.resolve(cfg.out or home_path("datasets", "demo"))
    corpus_out = storage.resolve(cfg.corpus.out or storage.join(out, "corpus"))
    shards_out = storage.join(out, "shards")
    with tracking.start_run("demo", cfg, run_name="demo") as parent:
        with tracking.start_run("make_corpus", cfg.corpus, parent_run_id=parent.info.run_id):
            manifest, _ = run_tracked(cfg.corpus, corpus_out)
        pre = PreprocessConfig(input=storage.join(corpus_out, "videos"), output=shards_out, decode=cfg.decode, fit=cfg.fit)
        with tracking.start_run("preprocess", pre, parent_run_id=parent.info.run_id):
            summary = run_preprocess(pre)
        train = TrainConfig(data=shards_out, trainer=replace(cfg.trainer, run_name="demo-motion-tokenizer"))
        mt = train.motion_tokenizer
        train = replace(train, motion_tokenizer=replace(mt, data=replace(mt.data, window=cfg.decode.window), model=replace(
            mt.model, codebook_size=64, code_dim=32, hidden=64, depth=1)))
        result = train_stage(train, parent_run_id=parent.info.run_id)
        video = TrainConfig(stage="video_tokenizer", data=corpus_out, video_tokenizer=cfg.video_tokenizer,
                            trainer=replace(cfg.trainer, run_name="demo-video-tokenizer"))
        video_result = train_stage(video, parent_run_id=parent.info.run_id)
        tokens_out = storage.join(out, "tokens")
        pre_tok = PretokenizeConfig(input=corpus_out, output=tokens_out, video_tokenizer=video_result["checkpoint"],
                                    motion_tokenizer=result["checkpoint"], frames=cfg.video_tokenizer.data.frames,
                                    size=cfg.video_tokenizer.data.size)
        with tracking.start_run("pretokenize", pre_tok, parent_run_id=parent.info.run_id):
            tokens = run_pretokenize(pre_tok)
        ar = TrainConfig(stage="unimo", data=tokens_out, unimo=cfg.unimo, trainer=replace(cfg.trainer, run_name="demo-unimo"))
        ar_result = train_stage(ar, parent_run_id=parent.info.run_id)
        # the evaluation and the user jobs, as a user runs them (jobs/ is on sys.path: this script lives there)
        import evaluate
        import generate
        import mocap

        from unimo.pipelines import corpus_format

        evaluate.main(evaluate.EvalConfig(stage="unimo", checkpoint=ar_result["checkpoint"], tokens=tokens_out))
        videos = [corpus_format.video_path(corpus_out, c) for c in manifest.clip_ids[:2]]
        mocap_out, generate_out = storage.join(out, "mocap"), storage.join(out, "generate")
        mocap.main(mocap.MocapConfig(video=videos[0], out=mocap_out, checkpoint=ar_result["checkpoint"]))
        generate.main(generate.GenerateConfig(image=videos[-1], out=generate_out, checkpoint=ar_result["checkpoint"]))
    console.say(f"\ndemo finished: outputs in {out}")
    console.say(f"  corpus:     {len(manifest.clip_ids)} clips in {corpus_out}")
    console.say(f"  preprocess: {summary.clips_ok} windows, {summary.inputs_failed} failed inputs, in {shards_out}")
    console.say(f"  train:      motion tokenizer at step {result['step']}, val MPJPE {result['val'].get('mpjpe_mm', float('nan')):.0f} mm, "
                f"checkpoint {result['checkpoint']}")
    console.say(f"  train:      video tokenizer at step {video_result['step']}, val PSNR {video_result['val'].get('psnr', float('nan')):.1f} dB, "
                f"checkpoint {video_result['checkpoint']}")
    console.say(f"  tokenize:   {tokens.clips} windows of video and motion tokens, {tokens.errors} errors, in {tokens_out}")
    console.say(f"  train:      UniMo at step {ar_result['step']}, val V2M perplexity {ar_result['val'].get('v2m_perplexity', float('nan')):.1f}, "
                f"checkpoint {ar_result['checkpoint']}, MLflow run {ar_result['run_id']}")
    console.say("  evaluate:   the tables above, also in the MLflow run's evaluation.md")
    console.say(f"  mocap:      {videos[0]} -> {mocap_out} (motion.npz, overlay.mp4, side_by_side.mp4)")
    console.say(f"  generate:   the first frame of {videos[-1]} -> {generate_out} (video.mp4, motion.npz, side_by_side.mp4)")
    console.say(f"MLflow: {tracking.run_url(parent)}")


if __name__ == "__main__":
    cli.run(main, DemoConfig, description=__doc__)
