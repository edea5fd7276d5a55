"""The motion tokenizer model: token counts, expert coverage, quantiser behaviour."""

from __future__ import annotations

import pytest
import torch

from unimo.models.motion_tokenizer.model import MotionTokenizer, MotionTokenizerConfig, expert_slices
from unimo.models.quantizer import EMAQuantizer
from unimo.platform import motion_features as mf
from unimo.platform.config import load_config
from unimo.platform.errors import ConfigError

TINY = dict(codebook_size=32, code_dim=16, hidden=32, depth=1)


@pytest.mark.parametrize("stride, s, frames", [(4, 1, 32), (4, 2, 32), (4, 4, 32), (8, 2, 30), (4, 2, 7)])
def test_clip_of_T_frames_gives_L_times_s_tokens_and_decodes_back_to_T(stride, s, frames):
    cfg = MotionTokenizerConfig(temporal_stride=stride, expansion=s, **TINY)
    model = MotionTokenizer(cfg).eval()
    feats = torch.randn(3, frames, mf.FEATURE_DIM)
    q = model.encode(feats)
    L = -(-frames // stride)
    assert q.codes.shape == (3, L * s) == (3, cfg.tokens_for(frames))
    assert model.decode(q.codes, frames).shape == (3, frames, mf.FEATURE_DIM)


@pytest.mark.parametrize("experts", [1, 4, 5, 6, 8])
def test_expert_heads_cover_every_feature_exactly_once(experts):
    idx = sorted(i for _, ix in expert_slices(experts) for i in ix)
    assert idx == list(range(mf.FEATURE_DIM))
    assert len(MotionTokenizer(MotionTokenizerConfig(experts=experts, **TINY)).heads) == experts


def test_bad_model_configs_are_config_errors():
    with pytest.raises(ConfigError, match="power of two"):
        load_config(MotionTokenizerConfig, None, ["temporal_stride=4", "expansion=3"])
    with pytest.raises(ConfigError, match="experts must be"):
        load_config(MotionTokenizerConfig, None, ["experts=3"])


def test_features_round_trip_through_smpl_parameters():
    poses, trans, betas = torch.randn(2, 9, 72) * 0.4, torch.randn(2, 9, 3), torch.randn(2, 10)
    p, t, b = mf.from_features(mf.to_features(poses, trans, betas), start=trans[:, 0], yaw=mf.heading(poses))
    from unimo.platform.rotations import axis_angle_to_matrix as m

    assert (m(p.reshape(2, 9, 24, 3)) - m(poses.reshape(2, 9, 24, 3))).abs().max() < 1e-5
    assert (t - trans).abs().max() < 1e-5 and (b - betas).abs().max() < 1e-6


def test_features_do_not_depend_on_where_the_motion_starts_or_faces():
    from unimo.platform.rotations import axis_angle_to_matrix, matrix_to_axis_angle

    poses, trans, betas = torch.randn(2, 9, 72) * 0.4, torch.randn(2, 9, 3), torch.randn(2, 10)
    turn = mf.yaw_matrix(torch.tensor(1.1))
    turned = poses.clone()
    turned[..., :3] = matrix_to_axis_angle(turn @ axis_angle_to_matrix(poses[..., :3]))
    moved = trans @ turn.T + torch.tensor([3.0, 0.0, -2.0])
    assert (mf.to_features(turned, moved, betas) - mf.to_features(poses, trans, betas)).abs().max() < 1e-4
    assert (mf.heading(turned) - mf.heading(poses) - 1.1 + torch.pi).remainder(2 * torch.pi).sub(torch.pi).abs().max() < 1e-5
    # canonical: the first frame faces +z
    p0, _, _ = mf.from_features(mf.to_features(poses, trans, betas))
    assert mf.heading(p0).abs().max() < 1e-5


def test_quantizer_snaps_to_codes_and_resets_dead_ones():
    q = EMAQuantizer(codebook_size=8, dim=4, dead_after=2)
    q.train()
    data = torch.randn(2, 4, 50)
    out = q(data)
    assert out.codes.shape == (2, 50) and out.quantized.shape == data.shape
    # in eval mode the codebook stays put and the forward values are its rows (straight-through)
    q.eval()
    out = q(data)
    flat = out.quantized.detach().permute(0, 2, 1).reshape(-1, 4)
    assert torch.allclose(flat, q.codebook[out.codes.reshape(-1)], atol=1e-5)
    assert (out.codes.reshape(-1) == q.codes_for(data.permute(0, 2, 1).reshape(-1, 4))).all()
    q.train()
    # a code never chosen is reset after `dead_after` steps
    q.codebook[7] = 1e6
    q.ema_sum[7] = 1e6
    for _ in range(3):
        q(data)
    assert q.codebook[7].abs().max() < 100


def test_normalised_quantizer_keeps_outputs_and_codes_on_the_unit_sphere():
    q = EMAQuantizer(codebook_size=16, dim=8, normalize=True)
    q.train()
    for _ in range(3):
        out = q(torch.randn(4, 8, 20) * 5)
    assert torch.allclose(q.codebook.norm(dim=1), torch.ones(16), atol=1e-5)
    assert torch.allclose(out.quantized.norm(dim=1), torch.ones(4, 20), atol=1e-5)
