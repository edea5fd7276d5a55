"""The body mask that weighs the video tokenizer's loss towards the person: where it falls,
that it follows the frames through the crop and resize, the weighted loss, the body's PSNR."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimo.models.video_tokenizer.body_mask import HEAD, body_mask
from unimo.models.video_tokenizer.data import cut_clips, resize_keypoints
from unimo.models.video_tokenizer.metrics import body_psnr, clip_quality
from unimo.models.video_tokenizer.stage import VideoLossConfig, pixel_loss


def standing_stick(x: float = 32.0, top: float = 10.0, bottom: float = 54.0, frames: int = 1) -> np.ndarray:
    """(frames, 24, 2): every joint on one vertical line, the head at the top."""
    ys = np.linspace(bottom, top, 24)
    ys[HEAD] = top
    return np.tile(np.stack([np.full(24, x), ys], -1)[None], (frames, 1, 1)).astype(np.float32)


def test_the_mask_covers_the_bones_and_nothing_far_from_them():
    mask = body_mask(standing_stick(), 64, 64)[0]
    radius = 0.06 * 44 + 0.5  # a fraction of the person's height, plus half a pixel
    assert mask[30, 31] == 1 and mask[30, 32] == 1
    assert mask[30, 40] == 0 and mask[60, 32] == 0 and mask.sum() < 0.2 * 64 * 64
    assert 2 * radius - 1 <= (mask[30] >= 0.5).sum() <= 2 * radius + 2  # a capsule about 2 r wide
    assert (mask[10] >= 0.5).sum() > (mask[30] >= 0.5).sum()  # the head's disc is wider than a bone


def test_joints_of_low_confidence_draw_nothing():
    confidence = np.zeros((1, 24), np.float32)
    assert body_mask(standing_stick(), 64, 64, confidence).sum() == 0
    confidence[:, :12] = 1.0  # a few joints seen: only the bones between them
    partial = body_mask(standing_stick(), 64, 64, confidence)
    assert 0 < partial.sum() < body_mask(standing_stick(), 64, 64).sum()


def test_the_mask_follows_the_frames_through_the_crop_and_resize():
    assert np.allclose(resize_keypoints(np.array([[150.0, 50.0]]), 100, 200, 64), [[64.0, 32.0]])
    # a wide video: a white person-high bar at x = 120 of 200, keypoints on it
    frames = np.zeros((5, 100, 200, 3), np.uint8)
    frames[:, 15:85, 118:122] = 255
    (clip,) = cut_clips(frames, 5, 64, standing_stick(x=120.0, top=15.0, bottom=85.0, frames=5))
    bright, body = clip["video"][..., 0] > 128, clip["body"] >= 128
    assert bright.any() and body[bright].all()  # every bright pixel is in the mask
    assert not body[:, :, :30].any()  # and the mask is not where the bar is not


def test_the_weighted_loss_counts_errors_on_the_body_more():
    clip = torch.zeros(1, 3, 5, 16, 16)
    body = torch.zeros(1, 5, 16, 16, dtype=torch.uint8)
    body[..., 4:8, 4:8] = 255
    on_body, off_body = clip.clone(), clip.clone()
    on_body[..., 4:8, 4:8] = 0.5
    off_body[..., 10:14, 10:14] = 0.5
    plain, weighted = VideoLossConfig(), VideoLossConfig(body_weight=10.0)
    assert pixel_loss(on_body, clip, plain, body) == pytest.approx(float(pixel_loss(off_body, clip, plain, body)))
    assert pixel_loss(on_body, clip, weighted, body) > 5 * pixel_loss(off_body, clip, weighted, body)
    with pytest.raises(ValueError, match="^loss.body_weight needs each clip's body mask"):
        pixel_loss(on_body, clip, weighted)


def test_body_psnr_scores_the_body_alone():
    clip = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    body = torch.zeros(2, 5, 16, 16)
    body[..., 4:8, 4:8] = 1
    blurred_background = clip.clone()
    blurred_background[..., 10:, :] = 0
    assert (body_psnr(blurred_background, clip, body) > 60).all()
    assert (clip_quality(blurred_background, clip)["psnr"] < 20).all()
    assert torch.isnan(body_psnr(clip, clip, torch.zeros_like(body))).all()


def test_preprocessing_shard_rows_carry_their_keypoints_into_the_body_mask():
    from unimo.models.video_tokenizer.data import shard_video_clips
    from unimo.pipelines.video_io import encode_mp4

    frames = np.zeros((9, 96, 128, 3), np.uint8)
    frames[:, 10:86, 62:66] = 255  # a person-high bar at x = 64 of 128
    keypoints = standing_stick(x=64.0, top=10.0, bottom=86.0, frames=9)
    confidence = np.zeros((9, 24), np.float32)  # the detector saw nobody in frames 0-3 ...
    confidence[4:] = 1.0  # ... and the person from frame 4 on
    row = {"clip_id": "w0", "num_frames": 9, "frames_mp4": encode_mp4(frames, 30.0),
           "keypoints2d": keypoints.ravel(), "keypoint_conf": confidence.ravel()}
    (clip,) = shard_video_clips(row, clip_frames=9, size=32)
    assert clip["video"].shape == (9, 32, 32, 3) and clip["body"].shape == (9, 32, 32)
    assert not clip["body"][:4].any() and clip["body"][4:, 16, 16].min() == 255
