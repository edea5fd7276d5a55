"""UniMo speed: sampling with the KV cache against without, and training FLOP/s against a
plain matmul's, in this process.

    .venv/bin/python benchmarks/bench_unimo.py [--config configs/unimo_cpu.yaml] [--tokens 1024] [--steps 20]

Sampling: the config's model (random weights: speed does not depend on them) generates an
M2V clip of `--tokens` video tokens (4 latent frames of a 16 x 16 grid, 8 motion tokens
given), batch 1, greedy, once with the static KV cache (one token a step) and once
recomputing the whole prefix every step. Same model, same tokens (checked).

Training: the config's model on batches of the grid its token shards have (from
`unimo.tokens` in the config), the stage's own loss, AdamW; FLOPs per step counted by
torch (attention included), steady step rate after 3 warm-up steps, against a plain fp32
1024^3 matmul on the same threads. Also the tokens a second training consumes, to compare
with the token loader's rate (benchmarks/bench_token_loader.py).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/unimo_cpu.yaml")
    parser.add_argument("--tokens", type=int, default=1024, help="video tokens generated (4 latent frames of a square grid)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from unimo.models.training.accelerator import Accelerator
    from unimo.models.training.session import TrainConfig
    from unimo.models.training.throughput import flops_per_step, matmul_flops
    from unimo.models.unimo.layout import Layouts, TokenGrid
    from unimo.models.unimo.model import UniMo
    from unimo.models.unimo.sampling import SamplingConfig, generate
    from unimo.models.unimo.stage import UniMoStage
    from unimo.platform.config import load_config

    cfg = load_config(TrainConfig, args.config)
    st, device = cfg.unimo, torch.device(args.device)
    acc = Accelerator(device, cfg.trainer.precision)
    side = int(round((args.tokens / 4) ** 0.5))
    grid = TokenGrid(4, side, side, 2)
    model_cfg = replace(st.model, video_codes=4375, motion_codes=512, max_seq_len=grid.sequence_length)
    torch.manual_seed(0)
    model = UniMo(model_cfg).to(device).eval()
    layouts = Layouts(grid, model_cfg.vocab)
    motion = torch.randint(0, 512, (1, 4, 2))
    print(f"UniMo {model_cfg.n_layer} layers x {model_cfg.n_embd}, {model_cfg.n_head} heads: {model.num_params() / 1e6:.2f} M parameters; "
          f"{args.threads} threads, {device}, {acc.dtype}")
    rates, outputs = {}, {}
    for name, cache in (("KV cache", True), ("no cache", False)):
        start = time.perf_counter()
        with acc.autocast():
            outputs[name] = generate(model, layouts, "m2v", motion=motion, cfg=SamplingConfig(temperature=0.0), use_cache=cache)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates[name] = grid.video_tokens / (time.perf_counter() - start)
        print(f"  sampling, {name}: {grid.video_tokens} tokens at {rates[name]:.1f} tokens/s", flush=True)
    same = torch.equal(outputs["KV cache"], outputs["no cache"])
    print(f"sampling {grid.video_tokens} tokens: KV cache {rates['KV cache']:.1f} tokens/s, without {rates['no cache']:.1f} tokens/s: "
          f"{rates['KV cache'] / rates['no cache']:.1f}x (same tokens: {same})")

    # training, on the grid of the config's token shards
    tg = TokenGrid(st.tokens.latent_frames or 5, *(st.tokens.grid if st.tokens.grid[0] else [8, 8]), st.tokens.motion_per_latent or 2)
    stage_cfg = replace(st, model=replace(model_cfg, max_seq_len=tg.sequence_length),
                        tokens=replace(st.tokens, latent_frames=tg.latent_frames, grid=[tg.height, tg.width], motion_per_latent=tg.motion_per_latent))
    stage = UniMoStage(stage_cfg)
    model = stage.build_model().to(device).train()
    B = cfg.trainer.batch_size
    batch = {"video_tokens": torch.randint(0, 4375, (B, tg.latent_frames, tg.height, tg.width)),
             "motion_tokens": torch.randint(0, 512, (B, tg.latent_frames, tg.motion_per_latent))}
    step_flops = flops_per_step(stage, model, batch, acc)
    opt = acc.optimizer(model.parameters(), 1e-4, 0.0)
    on_device = acc.to_device(batch)

    def train_step():
        with acc.autocast():
            loss, _ = stage.loss(model, on_device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        train_step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(args.steps):
        train_step()
    sync()
    steps_per_s = args.steps / (time.perf_counter() - start)
    peak = matmul_flops(device, acc.dtype, 1024 if device.type == "cpu" else 8192, 3.0)
    achieved = step_flops * steps_per_s
    print(f"training: batch {B} x {tg.sequence_length} tokens, {step_flops / 1e9:.2f} GFLOP a step, {steps_per_s:.2f} steps/s, "
          f"{steps_per_s * B * tg.sequence_length:.0f} tokens/s consumed; {achieved / 1e9:.1f} GFLOP/s against a plain "
          f"{acc.dtype} matmul's {peak / 1e9:.1f} GFLOP/s: {achieved / peak:.1%}")


if __name__ == "__main__":
    main()
