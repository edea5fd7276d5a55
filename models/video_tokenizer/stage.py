"""Training the video tokenizer, as a stage plug-in of the shared training session.

Loss: L1 (default) or L2 on pixels, optionally weighted towards the person
(`loss.body_weight`: pixels on the body, from the clip's 2D keypoints, weigh 1 + w; see
`body_mask` for why); FSQ needs no codebook loss. Optionally an adversarial
loss from a small patch discriminator trained from scratch (no pretrained weights exist
here, so no LPIPS), switched on late (`loss.adversarial_start`), when reconstructions are
already close: both players train in the one loop, with one optimiser, because the
generator's term sees the discriminator through detached weights and the
discriminator's term sees detached reconstructions.

Validation: PSNR and SSIM of 8-bit frames, PSNR of the first (image-only) frame apart from
the rest, PSNR of the body's pixels alone, and codebook usage over the validation clips'
tokens.

Data: the URLs given (shards or corpora with videos), else a rendered corpus generated once
under UNIMO_HOME.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import torch
from torch import nn

from unimo.models import timeline
from unimo.models.video_tokenizer.data import to_model_input
from unimo.models.video_tokenizer.metrics import body_psnr, clip_quality
from unimo.models.video_tokenizer.model import VideoTokenizer, VideoTokenizerConfig
from unimo.platform.config import option

log = logging.getLogger(__name__)


@dataclass
class VideoLossConfig:
    pixel: Literal["l1", "l2"] = option("l1", help="pixel reconstruction loss")
    body_weight: float = option(0.0, help="pixels on the person (from the clips' 2D keypoints) weigh 1 + this (0: all alike)")
    adversarial: float = option(0.0, help="weight of the adversarial loss (0: off)")
    adversarial_start: int = option(2000, help="step from which the adversarial loss counts")


@dataclass
class VideoDataConfig:
    frames: int = option(17, help="frames per training clip: 1 + t * k (17 at t = 4: 5 latent frames)")
    size: int = option(64, help="frames are centre-cropped and resized to size x size")
    corpus_clips: int = option(256, help="clips of the generated rendered corpus, when no data is given")
    corpus_frames: int = option(68, help="frames per generated corpus video (cut into clips of `frames`)")
    val_clips: int = option(64, help="validation clips, at most")


@dataclass
class VideoTokenizerStageConfig:
    model: VideoTokenizerConfig = field(default_factory=VideoTokenizerConfig)
    loss: VideoLossConfig = field(default_factory=VideoLossConfig)
    data: VideoDataConfig = field(default_factory=VideoDataConfig)


class PatchDiscriminator(nn.Module):
    """Real or reconstructed, per patch of each frame (PatchGAN), from scratch."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(channels, channels * 2, 4, 2, 1), nn.GroupNorm(8, channels * 2), nn.LeakyReLU(0.2),
                                 nn.Conv2d(channels * 2, 1, 3, 1, 1))

    def forward(self, clip: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W) -> logits per patch
        return self.net(clip.transpose(1, 2).flatten(0, 1))


class VideoTokenizerTraining(nn.Module):
    """What trains: the tokenizer, and the discriminator when the adversarial loss is on."""

    def __init__(self, cfg: VideoTokenizerStageConfig):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = VideoTokenizer(cfg.model)
        self.discriminator = PatchDiscriminator() if cfg.loss.adversarial > 0 else None
        self.register_buffer("step", torch.zeros((), dtype=torch.long))  # for the adversarial start

    def forward(self, clip):
        return self.tokenizer(clip)


def pixel_loss(recon: torch.Tensor, clip: torch.Tensor, cfg: VideoLossConfig, body=None) -> torch.Tensor:
    """L1 or L2 of (B, 3, T, H, W) clips; with `cfg.body_weight`, a weighted mean in which the
    pixels of `body` (uint8 (B, T, H, W), 255 on the person) weigh 1 + body_weight."""
    error = (recon - clip).abs() if cfg.pixel == "l1" else (recon - clip).pow(2)
    if cfg.body_weight <= 0:
        return error.mean()
    if body is None:
        raise ValueError("loss.body_weight needs each clip's body mask: train on a corpus or shards, whose 2D keypoints draw it")
    weight = 1 + cfg.body_weight * torch.as_tensor(body).to(error.device)[:, None].float() / 255
    return (error * weight).mean() / weight.mean()  # a weighted mean: the loss keeps its scale


class VideoTokenizerStage:
    name = "video_tokenizer"

    def __init__(self, cfg: VideoTokenizerStageConfig):
        self.cfg = cfg

    def build_model(self) -> VideoTokenizerTraining:
        return VideoTokenizerTraining(self.cfg)

    def loss(self, model, batch: dict):
        raw = model.module if hasattr(model, "module") else model
        clip = to_model_input(batch["video"])
        recon, q = model(clip)
        recon = recon.float()
        pixel = pixel_loss(recon, clip, self.cfg.loss, batch.get("body"))
        terms = {"pixel": pixel.detach(), "perplexity": q.perplexity.detach()}
        total = pixel
        if raw.discriminator is not None:
            # both terms every step, weighted 0 before the start: DDP needs every parameter in
            # the graph, and a tensor gate needs no host sync
            raw.step += 1
            on = (raw.step >= self.cfg.loss.adversarial_start).float()
            g, d = _adversarial_terms(raw.discriminator, recon, clip)
            total = total + on * (self.cfg.loss.adversarial * g + d)
            terms.update(generator=g.detach(), discriminator=d.detach())
        terms["loss"] = total.detach()
        return total, terms

    @torch.no_grad()
    def validate(self, model: VideoTokenizerTraining, batches) -> dict[str, float]:
        tokenizer = model.tokenizer
        first, rest, ssim, body, codes, n = 0.0, [], 0.0, [], [], 0
        for batch in batches:
            clip = to_model_input(batch["video"])
            recon, q = tokenizer(clip)
            quality = clip_quality(recon, clip)
            if "body" in batch:
                body.append(body_psnr(recon, clip, torch.as_tensor(batch["body"]).to(clip.device).float() / 255).cpu())
            first += float(quality["psnr"][:, 0].sum())
            rest.append(quality["psnr"][:, 1:].flatten())
            ssim += float(quality["ssim"].mean(1).sum())
            codes.append(q.codes.flatten().cpu())
            n += clip.shape[0]
        if not n:
            return {}
        from unimo.models.quantizer import codebook_usage

        usage, perplexity = codebook_usage(torch.cat(codes), tokenizer.quantizer.codebook_size)
        rest_psnr = torch.cat(rest)
        out = {"psnr": float(rest_psnr.mean()) if len(rest_psnr) else first / max(n, 1), "psnr_first_frame": first / max(n, 1),
               "ssim": ssim / max(n, 1), "codebook_usage": usage, "perplexity": perplexity}
        body = torch.cat(body) if body else torch.zeros(0)
        if torch.isfinite(body).any():
            out["psnr_body"] = float(body[torch.isfinite(body)].mean())
        return out


def _adversarial_terms(discriminator: nn.Module, recon: torch.Tensor, real: torch.Tensor):
    """(generator loss, discriminator loss), hinge form. The generator's term goes through
    the discriminator's detached weights, the discriminator's through detached recons, so
    one backward pass trains each player only on its own term."""
    from torch.func import functional_call

    frozen = {k: v.detach() for k, v in discriminator.named_parameters()}
    g = -functional_call(discriminator, frozen, (recon,)).mean()
    d = torch.relu(1 - discriminator(real)).mean() + torch.relu(1 + discriminator(recon.detach())).mean()
    return g, d


# -- the plug-in: the driver side ----------------------------------------------------------


def training_data(data: str, cfg: VideoDataConfig, debug: bool, use_ray: bool) -> str:
    """The data URLs: as given, or a rendered corpus generated once under UNIMO_HOME."""
    from unimo.models.training.data import data_urls
    from unimo.pipelines import corpus_format
    from unimo.pipelines.corpus import CorpusConfig, build_corpus
    from unimo.platform import storage
    from unimo.platform.home import home_path

    if data:
        return ",".join(data_urls(data))
    clips, frames = (24, 2 * cfg.frames) if debug else (cfg.corpus_clips, max(cfg.corpus_frames, cfg.frames))
    size = max(cfg.size, 64)
    url = home_path("datasets", f"train_video_seed0_{clips}x{frames}_{size}px")
    if not storage.exists(storage.join(url, corpus_format.MANIFEST)):
        build_corpus(CorpusConfig(clips=clips, frames=frames, size=size, seed=0), url, progress=True, use_ray=use_ray)
    return url


def check_clip_shape(vt: VideoTokenizerStageConfig) -> None:
    """A clip length or size the model cannot take fails here, in one line, before any data is made."""
    timeline.latent_frames(vt.data.frames, vt.model.temporal_factor)
    vt.model.grid(vt.data.size, vt.data.size)


class VideoTokenizerPlugin:
    name = "video_tokenizer"
    config_cls = VideoTokenizerStageConfig
    selection_metric = ("val/psnr", "max")  # what a sweep selects on

    def debug_overrides(self, cfg):
        vt = cfg.video_tokenizer
        t = vt.model.temporal_factor
        model = replace(vt.model, hidden=16, depth=1, levels=[5, 5, 5])
        data = replace(vt.data, frames=timeline.clip_frames(3, t), size=32, val_clips=8)
        trainer = cfg.trainer.for_debug(max_batch=4)
        return replace(cfg, trainer=trainer, video_tokenizer=replace(vt, model=model, data=data))

    def prepare(self, cfg, use_ray: bool):
        from unimo.models.training.data import DataError, num_examples
        from unimo.models.training.stages import PreparedData
        from unimo.models.video_tokenizer import data as video_data

        vt = cfg.video_tokenizer
        check_clip_shape(vt)
        urls = training_data(cfg.data, vt.data, cfg.debug, use_ray)
        if use_ray:
            train, val = video_data.video_datasets(urls, vt.data.frames, vt.data.size)
            train, val = train.materialize(), val.limit(vt.data.val_clips).materialize()
            count, val_count = train.count(), val.count()
            if not val_count:
                val = train.limit(vt.data.val_clips).materialize()
        else:
            train, val = video_data.video_arrays(urls, vt.data.frames, vt.data.size, val_limit=vt.data.val_clips, progress=True)
            count, val_count = num_examples(train), num_examples(val)
            if not val_count:
                val = {k: v[: vt.data.val_clips] for k, v in train.items()}
        if not val_count:  # tiny datasets (the demo's): say so, rather than report nothing
            log.warning("no video of '%s' falls in the validation split: validating on training clips", urls)
        needed = cfg.trainer.batch_size * (cfg.trainer.num_workers if use_ray else 1)
        if count < needed:
            raise DataError(f"data '{urls}' has {count} training clips of {vt.data.frames} frames, fewer than one step needs "
                            f"({cfg.trainer.batch_size} x {needed // cfg.trainer.batch_size} workers)")
        return PreparedData(vt, urls, train, val, count)

    def make_stage(self, stage_config: VideoTokenizerStageConfig) -> VideoTokenizerStage:
        return VideoTokenizerStage(stage_config)

    def sample_artifacts(self, checkpoint_file: str, example: dict) -> dict[str, bytes]:
        """A validation clip (left) beside its reconstruction (right)."""
        from unimo.models.video_tokenizer.api import VideoTokenizerInference
        from unimo.pipelines import video_io

        tok = VideoTokenizerInference.load(checkpoint_file)
        video = np.asarray(example["video"])[None]
        recon = tok.decode(tok.encode(video))
        side = np.concatenate([video[0], recon[0]], axis=2)
        return {"samples/clip_vs_reconstruction.mp4": video_io.encode_mp4(side, 30.0)}


PLUGIN = VideoTokenizerPlugin()
