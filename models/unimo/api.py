"""UniMo inference: a trained checkpoint, its layouts and sampling, behind one object.

    model = UniMoInference.load("path/to/checkpoint")        # folder, state.pt or runs:/<run id>
    model.check_tokens("path/to/token_shards")                 # refuses shards of other tokenizers
    video, motion = model.generate("v2m", video=codes)         # motion capture, in token ids
    video, motion = model.generate("i2vm", video=first_frame)  # only V_0 is read
    video, motion = model.generate("m2v", motion=codes)

Token ids go to frames and SMPL parameters through the two tokenizers' APIs
(`VideoTokenizerInference`, `MotionTokenizerInference`), named in `model.tokens`.
"""

from __future__ import annotations

import torch

from unimo.models.training import checkpoint as ckpt_lib
from unimo.models.unimo.model import UniMo
from unimo.models.unimo.sampling import SamplingConfig, generate
from unimo.models.unimo.stage import UniMoStageConfig
from unimo.models.unimo.vocabulary import check_task


class UniMoInference:
    def __init__(self, model: UniMo, cfg: UniMoStageConfig, source: str, train_data: str = ""):
        self.model, self.cfg, self.source = model.eval(), cfg, source
        self.train_data = train_data  # the token shards it trained on
        self.layouts = cfg.layouts()

    @classmethod
    def load(cls, source: str, device: str = "cpu") -> "UniMoInference":
        from unimo.platform.config import from_dict

        state = ckpt_lib.load_stage(source, "unimo", map_location=device)
        cfg = from_dict(UniMoStageConfig, state["config"]["stage_config"])
        model = UniMo(cfg.model)
        model.load_state_dict(state["model"])
        return cls(model.to(device), cfg, source, state["config"].get("train_config", {}).get("data", ""))

    @property
    def tokens(self):
        """Which tokenizers (and grid) the model's ids belong to."""
        return self.cfg.tokens

    def check_tokens(self, root: str) -> None:
        """One-line error unless the token shards at `root` were written by this model's tokenizers."""
        from unimo.models.unimo.data import TokenSource
        from unimo.pipelines.token_shards import TokenManifest

        self.cfg.tokens.check_matches(TokenSource.of(TokenManifest.read(root)), root)

    def generate(self, task: str, video: torch.Tensor | None = None, motion: torch.Tensor | None = None,
                 sampling: SamplingConfig = SamplingConfig(), batch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The clip's (video codes (B, L, h, w), motion codes (B, L, s)), given tokens kept and
        the rest generated."""
        check_task(task)
        device = self.model.head.weight.device
        ids = generate(self.model, self.layouts, task, None if video is None else video.to(device),
                       None if motion is None else motion.to(device), sampling, batch=batch)
        return self.layouts.split(ids, task)
