"""Training UniMo, as a stage plug-in of the shared training session
(`python jobs/train.py --stage unimo data=TOKEN_SHARDS`).

Each example of a batch draws its task from the mixture (`tasks.*` weights), is laid out
by `layout.Layouts` (all tasks have the same length, so one batch mixes them), and with
probability `condition_dropout` has its given tokens replaced by NULL: the unconditional
branch classifier-free guidance needs at sampling. The loss is cross-entropy on generated
tokens only.

Validation, per task, on clips whose source video training never saw: perplexity and
next-token accuracy on generated tokens, under the distribution sampling draws from (each
position restricted to its modality's codes, for both embedding modes).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from unimo.models.unimo.data import TokenSource
from unimo.models.unimo.layout import Layouts
from unimo.models.unimo.model import UniMo, UniMoConfig
from unimo.models.unimo.vocabulary import TASKS
from unimo.platform.config import option

log = logging.getLogger(__name__)


@dataclass
class TaskMixture:
    i2vm: float = option(1.0, help="weight of I2VM (image -> video and motion) in training batches")
    v2m: float = option(1.0, help="weight of V2M (video -> motion: motion capture)")
    m2v: float = option(0.5, help="weight of M2V (motion -> video)")

    def weights(self) -> torch.Tensor:
        w = torch.tensor([float(getattr(self, t)) for t in TASKS])
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"task weights must be >= 0 and not all 0, got {dict(zip(TASKS, w.tolist()))}")
        return w / w.sum()


@dataclass
class UniMoStageConfig:
    model: UniMoConfig = field(default_factory=UniMoConfig)
    tasks: TaskMixture = field(default_factory=TaskMixture)
    v2m_layout: Literal["appended", "interleaved"] = option("appended", help="V2M: all video then all motion, or interleaved per latent frame")
    condition_dropout: float = option(0.1, help="probability of dropping an example's given tokens (for classifier-free guidance)")
    val_fraction: float = option(0.1, help="share of source videos held out for validation")
    val_clips: int = option(256, help="validation clips, at most")
    tokens: TokenSource = field(default_factory=TokenSource)

    def layouts(self) -> Layouts:
        return Layouts(self.tokens.token_grid, self.model.vocab, self.v2m_layout)


class UniMoStage:
    name = "unimo"

    def __init__(self, cfg: UniMoStageConfig):
        self.cfg = cfg
        self.layouts = cfg.layouts()
        self.weights = cfg.tasks.weights()

    def build_model(self) -> UniMo:
        return UniMo(self.cfg.model)

    def loss(self, model, batch: dict):
        video, motion = batch["video_tokens"], batch["motion_tokens"]
        B, device = video.shape[0], video.device
        task = torch.multinomial(self.weights, B, replacement=True).to(device)
        ids = self.layouts.sequences(video, motion, task)
        drop = torch.rand(B, device=device) < self.cfg.condition_dropout
        inputs = self.layouts.drop_condition(ids, task, drop)[:, :-1]
        logits = model(inputs, self.layouts.next_kinds(task))
        mask = self.layouts.loss_mask(task)
        nll = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), reduction="none").view(B, -1)
        loss = (nll * mask).sum() / mask.sum()
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def validate(self, model: UniMo, batches) -> dict[str, float]:
        totals = {t: np.zeros(3) for t in TASKS}  # nll sum, correct, tokens
        for batch in batches:
            for t, value in task_scores(model, self.layouts, batch["video_tokens"], batch["motion_tokens"]).items():
                totals[t] += value
        out = {}
        for t, (nll, correct, n) in totals.items():
            if n:
                out[f"{t}_perplexity"] = math.exp(nll / n)
                out[f"{t}_accuracy"] = correct / n
                out[f"{t}_loss"] = nll / n
        if out:
            out["loss"] = float(np.mean([out[f"{t}_loss"] for t in TASKS if f"{t}_loss" in out]))
        return out


def task_scores(model: UniMo, layouts: Layouts, video: torch.Tensor, motion: torch.Tensor,
                tasks: tuple[str, ...] = TASKS) -> dict[str, np.ndarray]:
    """Per task: [summed NLL, correct next-token guesses, tokens] over the generated
    tokens of these clips, each position restricted to its modality's codes."""
    scores = {}
    for t in tasks:
        task = torch.full((video.shape[0],), Layouts.task_index(t), device=video.device)
        ids = layouts.sequences(video, motion, task)
        kinds = layouts.next_kinds(task)
        logits = model(ids[:, :-1], kinds).masked_fill(~model.allowed[kinds], float("-inf"))
        targets, mask = ids[:, 1:], layouts.loss_mask(task)
        nll = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
        correct = (logits.argmax(-1) == targets) & mask
        scores[t] = np.array([float((nll * mask).sum()), float(correct.sum()), float(mask.sum())])
    return scores


# -- the plug-in: the driver side ----------------------------------------------------------


class UniMoPlugin:
    name = "unimo"
    config_cls = UniMoStageConfig
    selection_metric = ("val/loss", "min")  # what a sweep selects on: mean NLL over the tasks
    # the reviewers' ablations, what `jobs/sweep.py --stage unimo` compares by default: joint
    # training vs V2M only; own embeddings vs shared; appended vs interleaved V2M
    ablation = [{}, {"unimo.tasks.i2vm": 0.0, "unimo.tasks.m2v": 0.0}, {"unimo.model.embeddings": "shared"},
                {"unimo.v2m_layout": "interleaved"}]

    def debug_overrides(self, cfg):
        st = cfg.unimo
        model = replace(st.model, n_layer=1, n_head=2, n_embd=32)
        trainer = cfg.trainer.for_debug(max_batch=4)
        return replace(cfg, trainer=trainer, unimo=replace(st, model=model, val_clips=min(st.val_clips, 16)))

    def prepare(self, cfg, use_ray: bool):
        from unimo.models.training.data import DataError, data_urls
        from unimo.models.training.stages import PreparedData
        from unimo.models.unimo import data as token_data

        st = cfg.unimo
        st.tasks.weights()  # bad weights fail here, in one line
        if not cfg.data:
            raise DataError("the unimo stage trains on token shards: give data=URL (written by jobs/pretokenize.py)")
        urls = data_urls(cfg.data, kinds=("tokens",))
        if len(urls) != 1:
            raise DataError(f"the unimo stage reads one token shard folder, got {len(urls)}: '{cfg.data}'")
        source, train, val = token_data.load_split(urls[0], st.val_fraction, st.val_clips)
        count = len(train["video_tokens"])
        if not len(val["video_tokens"]):
            log.warning("no source video of '%s' falls in the validation split: validating on training clips", urls[0])
            val = {k: v[: st.val_clips] for k, v in train.items()}
        needed = cfg.trainer.batch_size * (cfg.trainer.num_workers if use_ray else 1)
        if count < needed:
            raise DataError(f"token shards '{urls[0]}' have {count} training clips, fewer than one step needs ({needed})")
        if st.tokens.video_tokenizer:  # a config that names its token shards (a resumed or fine-tuned model): they must match
            st.tokens.check_matches(source, urls[0])
        model = replace(st.model, video_codes=source.video_codes, motion_codes=source.motion_codes,
                        max_seq_len=max(st.model.max_seq_len, source.token_grid.sequence_length))
        if model.video_embedding == "fsq" and not model.fsq_levels:
            from unimo.models.video_tokenizer.api import fsq_levels

            model = replace(model, fsq_levels=fsq_levels(source.video_tokenizer))
        stage_config = replace(st, model=model, tokens=source)
        if use_ray:
            train, val = token_data.ray_dataset(train), token_data.ray_dataset(val)
        return PreparedData(stage_config, urls[0], train, val, count)

    def make_stage(self, stage_config: UniMoStageConfig) -> UniMoStage:
        return UniMoStage(stage_config)

    def sample_artifacts(self, checkpoint_file: str, example: dict) -> dict[str, bytes]:
        """V2M on a validation clip: its given and generated token ids, as text (decoding
        them to frames and SMPL needs both tokenizers, which `jobs/generate.py` loads)."""
        from unimo.models.unimo.api import UniMoInference

        model = UniMoInference.load(checkpoint_file)
        video = torch.as_tensor(np.asarray(example["video_tokens"]))[None]
        motion = torch.as_tensor(np.asarray(example["motion_tokens"]))[None]
        _, generated = model.generate("v2m", video=video)
        lines = [f"given video tokens {tuple(video.shape[1:])}, true motion tokens {motion[0].tolist()}",
                 f"generated motion tokens {generated[0].tolist()}",
                 f"motion token accuracy {float((generated == motion).float().mean()):.3f}"]
        return {"samples/v2m_tokens.txt": "\n".join(lines).encode()}


PLUGIN = UniMoPlugin()
