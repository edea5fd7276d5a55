"""Sampling from UniMo: batched, with the KV cache, constrained by modality.

Given a task's layout and the clip's given tokens (the image for I2VM, the video for V2M,
the motion for M2V), `generate` fills in the generated positions left to right:
- the given tokens before the first generated one go through the model in one prefill
  step; later runs of given tokens (interleaved V2M) go through in one step each;
- each generated position draws from the logits of the one before, with temperature,
  top-k and top-p, after one `masked_fill` with the precomputed (kind x vocabulary)
  table, so a position never receives a token of another modality;
- classifier-free guidance runs the unconditional branch (given tokens replaced by NULL,
  as condition dropout did in training) in the same batch and mixes the logits:
  uncond + scale * (cond - uncond).
`use_cache=False` recomputes the whole prefix at every step (the benchmark's baseline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unimo.models.unimo.layout import Layouts
from unimo.models.unimo.model import UniMo
from unimo.platform.config import option


@dataclass
class SamplingConfig:
    temperature: float = option(1.0, help="softmax temperature (0: greedy)")
    top_k: int = option(0, help="keep the k most likely tokens (0: all)")
    top_p: float = option(1.0, help="keep the smallest set of tokens whose probability reaches p (1: all)")
    guidance: float = option(1.0, help="classifier-free guidance scale (1: off)")
    seed: int = option(0, help="random seed")


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Logits (B, V) with everything outside the top-k and the top-p nucleus at -inf."""
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        remove = cumulative - sorted_logits.softmax(-1) >= top_p  # keep up to and including the token that reaches p
        logits = logits.masked_fill(remove.scatter(1, order, remove), float("-inf"))
    return logits


def draw(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    if cfg.temperature <= 0:
        return logits.argmax(-1)
    probs = filter_logits(logits / cfg.temperature, cfg.top_k, cfg.top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(model: UniMo, layouts: Layouts, task: str, video: torch.Tensor | None = None, motion: torch.Tensor | None = None,
             cfg: SamplingConfig = SamplingConfig(), use_cache: bool = True, batch: int | None = None) -> torch.Tensor:
    """Complete sequences of `task`: (B, N) token ids, given tokens in place.

    `video` (B, L, h, w) and `motion` (B, L, s) hold the clip's codes; only the given
    positions are read (the rest may be anything, e.g. zeros). `layouts.split(ids, task)`
    turns the result back into codes."""
    g = layouts.grid
    device = model.head.weight.device
    given = video if video is not None else motion
    if given is None and batch is None:
        raise ValueError("generate needs the given tokens (video or motion) or a batch size")
    B = batch or given.shape[0]
    video = torch.zeros(B, g.latent_frames, g.height, g.width, dtype=torch.long) if video is None else video
    motion = torch.zeros(B, g.latent_frames, g.motion_per_latent, dtype=torch.long) if motion is None else motion
    t = torch.full((B,), layouts.task_index(task), dtype=torch.long)
    ids = layouts.sequences(video.to(device), motion.to(device), t.to(device))
    layout = layouts.tasks[task]
    generated = torch.as_tensor(layout.generated)
    kinds = torch.as_tensor(layout.kinds, device=device)
    allowed = model.allowed
    guided = cfg.guidance != 1.0
    if guided:  # second half: the unconditional branch
        ids = torch.cat([ids, layouts.drop_condition(ids, t.to(device), torch.ones(B, dtype=torch.bool, device=device))])
    rows = ids.shape[0]
    N = ids.shape[1]
    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    kinds_in = kinds[1:].expand(rows, -1)  # what each input position predicts

    def step(start: int, end: int) -> torch.Tensor:
        """Logits of the token after position end - 1, having fed positions [start, end)."""
        if use_cache:
            logits = model(ids[:, start:end], kinds_in[:, start:end], torch.arange(start, end, device=device))
        else:
            logits = model(ids[:, :end], kinds_in[:, :end])
        return logits[:, -1]

    if use_cache:
        model.setup_cache(rows, N)
    try:
        pos = layout.prefix_given
        logits = step(0, pos)
        while pos < N:
            if not generated[pos]:  # a run of given tokens: one step
                end = pos + 1
                while end < N and not generated[end]:
                    end += 1
                logits = step(pos, end) if end < N else logits
                pos = end
                continue
            if guided:
                logits = logits[B:] + cfg.guidance * (logits[:B] - logits[B:])
            logits = logits[:B].masked_fill(~allowed[kinds[pos]], float("-inf"))
            token = draw(logits, cfg, generator)
            ids[:, pos] = token.repeat(2) if guided else token
            pos += 1
            if pos < N:
                logits = step(pos - 1, pos)
    finally:
        if use_cache:
            model.clear_cache()
    return ids[:B]
