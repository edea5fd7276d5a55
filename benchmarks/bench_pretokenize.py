"""Pre-tokenization speed: windows/s with Ray on 1 CPU against 2 (the actor pool's scaling).

    .venv/bin/python benchmarks/bench_pretokenize.py [--videos 32] [--frames 68]

Tokenizers of the CPU configs' sizes (configs/video_tokenizer_cpu.yaml, a hidden-128
motion tokenizer), freshly initialised: speed does not depend on training. One corpus of
rendered 64 px videos, cut into 17-frame windows; each run writes fresh token shards. Ray
is started anew for each CPU count, and each count is timed twice, alternating; the faster
of each is kept (start-up is part of both).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile


def make_inputs(root: str, videos: int, frames: int) -> tuple[str, str, str]:
    import torch

    from unimo.models.motion_tokenizer.model import MotionTokenizer, MotionTokenizerConfig
    from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig
    from unimo.models.training import checkpoint
    from unimo.models.video_tokenizer.model import VideoTokenizerConfig
    from unimo.models.video_tokenizer.stage import VideoTokenizerStageConfig, VideoTokenizerTraining
    from unimo.pipelines.corpus import CorpusConfig, build_corpus
    from unimo.platform import motion_features as mf
    from unimo.platform.config import to_dict

    corpus = os.path.join(root, "corpus")
    build_corpus(CorpusConfig(clips=videos, frames=frames, size=64, seed=5), corpus, progress=False, use_ray=False)
    video_cfg = VideoTokenizerStageConfig(model=VideoTokenizerConfig(hidden=64, depth=2, levels=[7, 5, 5, 5, 5]))
    checkpoint.save(os.path.join(root, "video"), model=VideoTokenizerTraining(video_cfg), optimizer=None, step=0,
                    config={"stage": "video_tokenizer", "stage_config": to_dict(video_cfg)})
    motion = MotionTokenizerConfig(codebook_size=512, code_dim=64, hidden=128, depth=2)
    motion_cfg = MotionTokenizerStageConfig(model=motion, feature_mean=[0.0] * mf.FEATURE_DIM, feature_std=[1.0] * mf.FEATURE_DIM)
    model = MotionTokenizer(motion)
    model.quantizer.initialised.fill_(True)
    checkpoint.save(os.path.join(root, "motion"), model=model, optimizer=None, step=0,
                    config={"stage": "motion_tokenizer", "stage_config": to_dict(motion_cfg)})
    torch.manual_seed(0)
    return corpus, os.path.join(root, "video"), os.path.join(root, "motion")


def one_run(cpus: int, corpus: str, video: str, motion: str, out: str) -> float:
    """In a fresh process pinned to `cpus` cores (a fresh Ray of `cpus` CPUs, its workers
    inheriting the pinning): windows/s of a whole run. Without the pinning Ray's CPU count
    only limits scheduling, and a "1 CPU" run still uses every core (PyAV decodes with
    threads), so there is nothing left for 2 to gain."""
    code = f"""
import os
os.sched_setaffinity(0, set(range({cpus})))
from unimo.models.pretokenize import PretokenizeConfig, run_pretokenize
from unimo.platform import ray_session
ray_session.connect(num_cpus={cpus}, include_dashboard=False)
import time
start = time.perf_counter()
s = run_pretokenize(PretokenizeConfig(input={corpus!r}, output={out!r}, video_tokenizer={video!r}, motion_tokenizer={motion!r}))
print("RESULT", s.clips, time.perf_counter() - start)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")]
    if not line:
        raise SystemExit(done.stderr[-3000:])
    clips, seconds = line[0].split()[1:]
    return int(clips) / float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=32)
    parser.add_argument("--frames", type=int, default=68)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="bench_pretok_")
    os.environ.setdefault("UNIMO_HOME", os.path.join(root, "home"))
    corpus, video, motion = make_inputs(root, args.videos, args.frames)
    rates = {1: [], 2: []}
    for round_ in range(2):
        for cpus in (1, 2):
            rates[cpus].append(one_run(cpus, corpus, video, motion, os.path.join(root, f"tokens-{cpus}-{round_}")))
            print(f"  {cpus} CPU: {rates[cpus][-1]:.2f} windows/s", flush=True)
    best = {c: max(r) for c, r in rates.items()}
    windows = args.videos * (args.frames // 17)
    print(f"\n{args.videos} videos of {args.frames} frames at 64 px, {windows} windows of 17 frames\n")
    print("| Ray CPUs | windows/s | vs 1 CPU |\n| --- | --- | --- |")
    for c in (1, 2):
        print(f"| {c} | {best[c]:.2f} | {best[c] / best[1]:.2f}x |")


if __name__ == "__main__":
    main()
