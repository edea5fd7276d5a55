"""How well UniMo predicts held-out token sequences, per task, against a unigram baseline.

For each task, over the generated tokens of held-out clips (the condition is given):
perplexity and next-token accuracy of the model, each position restricted to its
modality's codes (the distribution sampling draws from), and the perplexity of a unigram
model of each modality's codes counted on the training split (add-one smoothed). The
factor unigram / model says how much the model gains from context: the condition and the
tokens already generated.
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
    for start in range(0, len(held_out["video_tokens"]), batch):
        video = torch.as_tensor(held_out["video_tokens"][start : start + batch]).to(device)
        motion = torch.as_tensor(held_out["motion_tokens"][start : start + batch]).to(device)
        for t, value in task_scores(net, layouts, video, motion).items():
            totals[t] += value
    out = {}
    for t in TASKS:
        nll, correct, n = totals[t]
        u_nll, u_n = unigram_nll(layouts, t, held_out["video_tokens"], held_out["motion_tokens"], log_probs)
        ppl, u_ppl = math.exp(nll / n), math.exp(u_nll / u_n)
        out[t] = {"perplexity": ppl, "accuracy": correct / n, "unigram_perplexity": u_ppl, "factor": u_ppl / ppl, "tokens": n}
    return out
