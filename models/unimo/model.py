"""The UniMo transformer: one decoder-only model over one sequence of video and motion tokens.

Read like nanoGPT's model.py: pre-norm blocks (RMSNorm, causal self-attention, MLP),
rotary position embeddings, `scaled_dot_product_attention` with `is_causal=True` in
training (an explicit mask would disable the flash kernel), and, for sampling, a static
KV cache per layer as in gpt-fast: (batch, heads, max_len, head_dim) buffers written at
`input_pos`, attention over the whole buffer with a causal mask row, so shapes never change.

Modalities (`embeddings`):
- `own` (the paper's): an embedding table per modality (special/task, video, motion) and a
  head masked by the modality of the next token, so each modality's distribution is
  normalised over its own codes, in training as in sampling;
- `shared` (the ablation, as Emu3 and Chameleon): one table and one head over the joint
  vocabulary, softmax over every id; the model has to learn which modality comes next.
Tables over disjoint id ranges are the same function class as rows of one table; what the
switch changes is the head: whether the next token's modality is known or learned.

Video codes (`video_embedding`): `learned` gives each code its own row; `fsq` adds to that
row the code's point on the video tokenizer's FSQ grid through a learned linear map. A code
names a grid point, and the tokenizer's decoder maps nearby points to similar pixels, so
`fsq` starts every code, rare ones too, where its neighbours are (5,120 CPU training clips
show most of 4,375 codes a few times only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from unimo.models.quantizer import FSQuantizer
from unimo.models.unimo.vocabulary import Kind, Vocabulary
from unimo.platform.config import option


@dataclass
class UniMoConfig:
    n_layer: int = option(4, help="transformer blocks")
    n_head: int = option(4, help="attention heads")
    n_embd: int = option(256, help="model width")
    dropout: float = option(0.0, help="dropout on attention and MLP outputs")
    embeddings: Literal["own", "shared"] = option("own", help="own: a table and head per modality (the paper's); shared: one over the joint vocabulary")
    rope_base: float = option(10000.0, help="RoPE base")
    max_seq_len: int = option(0, help="longest sequence (0: the token shards' sequence length)")
    video_codes: int = option(0, help="video tokenizer codebook size (0: from the token shards)")
    motion_codes: int = option(0, help="motion tokenizer codebook size (0: from the token shards)")
    video_embedding: Literal["learned", "fsq"] = option("learned", help="learned: a row per video code; fsq: plus the code's FSQ grid point through a learned map")
    fsq_levels: list[int] = option([], help="(from the token shards' video tokenizer) its FSQ levels, for video_embedding=fsq")

    def __post_init__(self):
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(f"n_embd ({self.n_embd}) must split into n_head ({self.n_head}) heads of even width")

    @property
    def vocab(self) -> Vocabulary:
        return Vocabulary(self.video_codes, self.motion_codes)


def rope_tables(head_dim: int, max_len: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = torch.outer(torch.arange(max_len).float(), inv_freq)  # (max_len, head_dim / 2)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of x (B, H, T, D) by the angles of their positions (T, D/2)."""
    x1, x2 = x.float().unflatten(-1, (-1, 2)).unbind(-1)
    rotated = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)
    return rotated.flatten(-2).type_as(x)


class KVCache(nn.Module):
    """Keys and values of every position sampled so far, in fixed-size buffers."""

    def __init__(self, batch: int, heads: int, max_len: int, head_dim: int, dtype: torch.dtype, device):
        super().__init__()
        shape = (batch, heads, max_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    def update(self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k[:, :, input_pos] = k
        self.v[:, :, input_pos] = v
        return self.k, self.v


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: UniMoConfig):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.n_embd // cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        self.dropout = cfg.dropout
        self.kv_cache: KVCache | None = None

    def forward(self, x, cos, sin, input_pos=None, mask=None):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kv_cache is not None:  # sampling: attend over the whole buffer, masked to what exists
            k, v = self.kv_cache.update(input_pos, k, v)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: UniMoConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: UniMoConfig):
        super().__init__()
        self.norm_attn = nn.RMSNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.norm_mlp = nn.RMSNorm(cfg.n_embd)
        self.mlp = MLP(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, input_pos=None, mask=None):
        x = x + self.dropout(self.attn(self.norm_attn(x), cos, sin, input_pos, mask))
        return x + self.dropout(self.mlp(self.norm_mlp(x)))


class UniMo(nn.Module):
    def __init__(self, cfg: UniMoConfig):
        super().__init__()
        if cfg.video_codes < 1 or cfg.motion_codes < 1 or cfg.max_seq_len < 2:
            raise ValueError("UniMoConfig needs video_codes, motion_codes and max_seq_len (taken from the token shards)")
        self.cfg = cfg
        vocab = cfg.vocab
        if cfg.embeddings == "own":
            self.embed = nn.ModuleDict({kind.name.lower(): nn.Embedding(end - start, cfg.n_embd)
                                        for kind, (start, end) in vocab.ranges().items()})
        else:
            self.embed = nn.ModuleDict({"joint": nn.Embedding(vocab.size, cfg.n_embd)})
        self.video_grid_map = None
        if cfg.video_embedding == "fsq":
            if math.prod(cfg.fsq_levels) != cfg.video_codes:
                raise ValueError(f"video_embedding=fsq: FSQ levels {list(cfg.fsq_levels)} name {math.prod(cfg.fsq_levels)} codes, "
                                 f"and the video vocabulary has {cfg.video_codes}")
            grid = FSQuantizer(list(cfg.fsq_levels)).lookup(torch.arange(cfg.video_codes)[None])[0].T  # (Kv, len(levels))
            self.register_buffer("video_grid", grid, persistent=False)
            self.video_grid_map = nn.Linear(grid.shape[1], cfg.n_embd, bias=False)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = nn.RMSNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, vocab.size, bias=False)
        cos, sin = rope_tables(cfg.n_embd // cfg.n_head, cfg.max_seq_len, cfg.rope_base)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.register_buffer("allowed", vocab.allowed(), persistent=False)  # (kinds, vocab)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: residual projections scaled by depth
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def embedding_table(self) -> torch.Tensor:
        """(vocab, n_embd): the modality tables stacked in id order (one lookup for every id)."""
        table = torch.cat([e.weight for e in self.embed.values()])
        if self.video_grid_map is None:
            return table
        start, end = self.cfg.vocab.ranges()[Kind.VIDEO]
        return torch.cat([table[:start], table[start:end] + self.video_grid_map(self.video_grid), table[end:]])

    def forward(self, idx: torch.Tensor, next_kind: torch.Tensor | None = None, input_pos: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, vocab) of the token after each of idx (B, T).

        `next_kind` (B, T): the modality each position predicts; with `own` embeddings the
        logits of other modalities' ids are -inf. `input_pos` (T,): positions of idx in the
        sequence when sampling with the KV cache (`setup_cache` first)."""
        T = idx.shape[1]
        if input_pos is None:  # training, or a full forward: causal attention within idx
            if T > self.cfg.max_seq_len:
                raise ValueError(f"sequence of {T} tokens is longer than max_seq_len={self.cfg.max_seq_len}")
            positions, mask = torch.arange(T, device=idx.device), None
        else:  # sampling: idx continues what the KV cache holds
            positions, mask = input_pos, self.causal_mask[input_pos][None, None]  # (1, 1, T, max_len): what each sees
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]
        x = F.embedding(idx, self.embedding_table())
        for block in self.blocks:
            x = block(x, cos, sin, input_pos, mask)
        logits = self.head(self.norm(x)).float()
        if next_kind is not None and self.cfg.embeddings == "own":
            logits = logits.masked_fill(~self.allowed[next_kind], float("-inf"))
        return logits

    # -- sampling ---------------------------------------------------------------------------

    def setup_cache(self, batch: int, max_len: int | None = None) -> None:
        max_len = max_len or self.cfg.max_seq_len
        param = self.head.weight
        for block in self.blocks:
            block.attn.kv_cache = KVCache(batch, self.cfg.n_head, max_len, self.cfg.n_embd // self.cfg.n_head, param.dtype, param.device)
        self.register_buffer("causal_mask", torch.ones(max_len, max_len, dtype=torch.bool, device=param.device).tril(), persistent=False)

    def clear_cache(self) -> None:
        for block in self.blocks:
            block.attn.kv_cache = None
