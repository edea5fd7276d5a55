"""The video tokenizer: L(T) for images, short and long clips; causality; FSQ codes; a tiny
model's loss falls; one-line errors; the Cosmos-style TorchScript loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from unimo.models import timeline
from unimo.models.motion_tokenizer.model import MotionTokenizerConfig
from unimo.models.quantizer import FSQuantizer
from unimo.models.training.checkpoint import CheckpointError
from unimo.models.video_tokenizer.api import VideoTokenizerInference
from unimo.models.video_tokenizer.metrics import clip_quality
from unimo.models.video_tokenizer.model import VideoTokenizer, VideoTokenizerConfig
from unimo.models.video_tokenizer.stage import VideoTokenizerStage, VideoTokenizerStageConfig


@pytest.mark.parametrize("t", [1, 2, 4, 8])
def test_latent_frames_of_images_short_and_long_clips(t):
    assert timeline.latent_frames(1, t) == 1  # an image is a one-frame clip
    for k in (1, 2, 8):
        assert timeline.latent_frames(1 + t * k, t) == 1 + k
        assert timeline.clip_frames(1 + k, t) == 1 + t * k


def test_a_clip_of_the_wrong_length_is_a_one_line_error_naming_a_length_that_works():
    with pytest.raises(timeline.ClipLengthError, match="16 frames cannot be tokenized at 4x.*1 \\+ a multiple of 4.*e.g. 13 or 17"):
        timeline.latent_frames(16, 4)


def test_motion_tokens_line_up_with_the_video_latent_frames():
    for t, s in ((4, 2), (8, 4), (2, 1)):
        motion = MotionTokenizerConfig(temporal_stride=t, expansion=s, hidden=16, code_dim=8)
        for latent in (1, 2, 5):
            assert motion.tokens_for(timeline.clip_frames(latent, t)) == timeline.motion_tokens(latent, s)


@pytest.mark.parametrize("t,f", [(4, 8), (4, 16), (8, 16), (1, 8)])
def test_shapes_round_trip_for_images_and_clips(t, f):
    model = VideoTokenizer(VideoTokenizerConfig(temporal_factor=t, spatial_factor=f, hidden=16, depth=1, levels=[5, 5, 5]))
    for frames in (1, 1 + t, 1 + 3 * t):
        clip = torch.rand(2, 3, frames, 32, 48) * 2 - 1
        recon, q = model(clip)
        assert recon.shape == clip.shape
        assert q.codes.shape == (2, timeline.latent_frames(frames, t), 32 // f, 48 // f)
        assert model.cfg.tokens(frames, 32, 48) == q.codes[0].numel()
        torch.testing.assert_close(model.decode(q.codes), recon)  # ids decode to what the tokenizer reconstructs


def test_encoding_is_causal_and_the_first_latent_frame_is_the_image_alone():
    model = VideoTokenizer(VideoTokenizerConfig(hidden=16, depth=2, levels=[5, 5, 5]))
    clip = torch.rand(1, 3, 13, 32, 32) * 2 - 1
    changed = clip.clone()
    changed[:, :, 5:] = 0  # frames of latent frames 2 and 3
    a, b = model.encode(clip).codes, model.encode(changed).codes
    assert torch.equal(a[:, :2], b[:, :2]) and not torch.equal(a[:, 2:], b[:, 2:])
    assert torch.equal(model.encode(clip[:, :, :1]).codes[:, 0], a[:, 0])


def test_fsq_codes_cover_the_grid_and_round_trip():
    q = FSQuantizer([8, 5, 5, 5])
    assert q.codebook_size == 1000
    every = torch.arange(1000)[None]
    values = q.lookup(every)  # (1, 4, 1000)
    assert torch.equal(q.codes_from_quantized(values.movedim(1, -1)), every)
    out = q(torch.randn(2, 4, 6, 6) * 3)
    assert torch.equal(q.lookup(out.codes), out.quantized) and out.codes.max() < 1000


def test_quality_metrics_of_a_perfect_and_a_noisy_reconstruction():
    clip = torch.rand(2, 3, 5, 32, 32) * 2 - 1
    perfect = clip_quality(clip, clip)
    assert (perfect["psnr"] >= 60).all() and torch.allclose(perfect["ssim"], torch.ones(2, 5))
    noisy = clip_quality((clip + 0.1 * torch.randn_like(clip)).clamp(-1, 1), clip)
    assert (noisy["psnr"] < 30).all() and (noisy["ssim"] < 0.99).all()


def test_a_tiny_tokenizer_trains_and_its_loss_falls():
    torch.manual_seed(0)
    stage = VideoTokenizerStage(VideoTokenizerStageConfig(model=VideoTokenizerConfig(hidden=16, depth=1, levels=[5, 5, 5])))
    model = stage.build_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    # a moving square on a flat background: what a rendered clip looks like, much simplified
    video = torch.zeros(4, 9, 32, 32, 3, dtype=torch.uint8) + 40
    for i in range(9):
        video[:, i, 8:16, 4 + 2 * i : 12 + 2 * i] = 220
    losses = []
    for _ in range(60):
        loss, terms = stage.loss(model, {"video": video})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(terms["pixel"]))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    metrics = stage.validate(model.eval(), [{"video": video}])
    assert metrics["psnr"] > 15 and 0 < metrics["codebook_usage"] <= 1


def test_a_wrong_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        VideoTokenizerInference.load(str(tmp_path / "nothing"))
    from unimo.models.training import checkpoint

    checkpoint.save(str(tmp_path), model=torch.nn.Linear(1, 1), optimizer=None, step=1, config={"stage": "motion_tokenizer"})
    with pytest.raises(CheckpointError, match="is a motion_tokenizer checkpoint, not a video tokenizer"):
        VideoTokenizerInference.load(str(tmp_path))
    with pytest.raises(CheckpointError, match="lacks encoder.jit, decoder.jit"):
        VideoTokenizerInference.load(f"cosmos:{tmp_path}")


class _ToyEncoder(torch.nn.Module):
    """Cosmos-style: (B, 3, T, H, W) in [-1, 1] -> (ids, codes), 4x in time, 8x in space."""

    def forward(self, x):
        first = x[:, :, :1]
        x = torch.cat([first.expand(-1, -1, 3, -1, -1), x], dim=2)
        B, C, T, H, W = x.shape
        pooled = x.reshape(B, C, T // 4, 4, H // 8, 8, W // 8, 8).mean(dim=(1, 3, 5, 7))
        ids = ((pooled + 1) / 2 * 15).round().clamp(0, 15).long()
        return ids, pooled


class _ToyDecoder(torch.nn.Module):
    def forward(self, ids):
        v = ids.float() / 15 * 2 - 1
        B, L, h, w = v.shape
        x = v[:, None, :, None, :, None, :, None].expand(B, 3, L, 4, h, 8, w, 8).reshape(B, 3, L * 4, h * 8, w * 8)
        return x[:, :, 3:]


def test_a_cosmos_style_torchscript_pair_loads_behind_the_same_api(tmp_path):
    torch.jit.script(_ToyEncoder()).save(str(tmp_path / "encoder.jit"))
    torch.jit.script(_ToyDecoder()).save(str(tmp_path / "decoder.jit"))
    tok = VideoTokenizerInference.load(f"cosmos:{tmp_path}")
    assert (tok.temporal_factor, tok.spatial_factor) == (4, 8)  # measured on a probe clip
    frames = np.full((2, 9, 32, 32, 3), 128, dtype=np.uint8)
    codes = tok.encode(frames)
    assert codes.shape == (2, 3, 4, 4)
    back = tok.decode(codes)
    assert back.shape == frames.shape and np.abs(back.astype(int) - 128).max() <= 9
    (tmp_path / "tokenizer.json").write_text(json.dumps({"temporal_factor": 4, "spatial_factor": 8, "codebook_size": 16}))
    assert VideoTokenizerInference.load(f"cosmos:{tmp_path}").codebook_size == 16
    with pytest.raises(timeline.ClipLengthError, match="8 frames"):
        tok.encode(frames[:, :8])
