"""UniMo from pixels and SMPL to pixels and SMPL: the transformer with both tokenizers,
for the user jobs (`jobs/generate.py`).

    media = UniMoMedia.load("runs:/<unimo run id>")      # tokenizers: the ones that wrote its token shards
    clip = media.image_to_video_and_motion(image)        # I2VM: uint8 (H, W, 3) -> frames and SMPL motion
    clip = media.motion_to_video(poses, trans, betas)    # M2V: a motion of T frames -> frames
    poses, trans, betas = media.video_to_motion(frames)  # V2M (motion capture) over a video of any length

Frames are centre-cropped and resized to the size the video tokenizer was trained at; a
clip has T = 1 + t (L - 1) frames, L the model's latent frames. Motion comes out in the
gravity-aligned frame (y up), starting at the origin and facing +z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unimo.models.motion_tokenizer.api import MotionTokenizerInference, MotionTokens
from unimo.models.training.checkpoint import CheckpointError
from unimo.models.unimo.api import UniMoInference
from unimo.models.unimo.sampling import SamplingConfig
from unimo.models.video_tokenizer.api import VideoTokenizerInference
from unimo.models.video_tokenizer.data import resize_square


@dataclass
class GeneratedClip:
    frames: np.ndarray  # (B, T, S, S, 3) uint8
    poses: np.ndarray  # (B, T, 72) axis-angle, y up
    trans: np.ndarray  # (B, T, 3) metres
    betas: np.ndarray  # (B, 10)
    fps: float


class UniMoMedia:
    def __init__(self, model: UniMoInference, video: VideoTokenizerInference, motion: MotionTokenizerInference):
        self.model, self.video, self.motion = model, video, motion
        t = model.tokens
        if video.codebook_size != t.video_codes:
            raise CheckpointError(f"video tokenizer '{video.source}' has {video.codebook_size} codes, the UniMo model "
                                  f"'{model.source}' was trained on {t.video_codes}")
        if motion.config.codebook_size != t.motion_codes or motion.config.expansion != t.motion_per_latent:
            raise CheckpointError(f"motion tokenizer has {motion.config.codebook_size} codes and s={motion.config.expansion}, "
                                  f"the UniMo model '{model.source}' was trained on {t.motion_codes} and s={t.motion_per_latent}")

    @classmethod
    def load(cls, checkpoint: str, video_tokenizer: str = "", motion_tokenizer: str = "") -> "UniMoMedia":
        model = UniMoInference.load(checkpoint)
        return cls(model, VideoTokenizerInference.load(video_tokenizer or model.tokens.video_tokenizer),
                   MotionTokenizerInference.load(motion_tokenizer or model.tokens.motion_tokenizer))

    @property
    def size(self) -> int:
        return self.model.tokens.grid[0] * self.video.spatial_factor

    @property
    def frames(self) -> int:
        return self.model.tokens.frames

    @property
    def fps(self) -> float:
        return self.model.tokens.fps or 30.0

    def _decode(self, video_codes: torch.Tensor, motion_codes: torch.Tensor) -> GeneratedClip:
        frames = self.video.decode(video_codes)
        pad = self.motion.config.temporal_stride - 1  # motion tokens are video-aligned: frame 0 was padded like the video's
        tokens = MotionTokens(motion_codes.flatten(1), frames=frames.shape[1], front_pad=pad)
        poses, trans, betas = self.motion.decode(tokens)
        return GeneratedClip(frames, poses.numpy(), trans.numpy(), betas.numpy(), self.fps)

    def image_to_video_and_motion(self, image: np.ndarray, samples: int = 1, sampling: SamplingConfig = SamplingConfig()) -> GeneratedClip:
        """I2VM from one uint8 (H, W, 3) image: `samples` clips of video and motion."""
        first = self.video.encode(resize_square(image[None], self.size)[None])  # (1, 1, h, w)
        t = self.model.tokens
        video = torch.zeros(samples, t.latent_frames, *t.grid, dtype=torch.long)
        video[:, 0] = first[0, 0]
        video_codes, motion_codes = self.model.generate("i2vm", video=video, sampling=sampling)
        return self._decode(video_codes, motion_codes)

    def motion_to_video(self, poses: np.ndarray, trans: np.ndarray, betas: np.ndarray, samples: int = 1,
                        sampling: SamplingConfig = SamplingConfig()) -> GeneratedClip:
        """M2V from a motion of exactly `self.frames` frames: (T, 72), (T, 3), (10,)."""
        tokens = self.motion.encode(torch.as_tensor(poses)[None], torch.as_tensor(trans)[None], torch.as_tensor(betas)[None],
                                    video_aligned=True)
        t = self.model.tokens
        motion = tokens.codes.view(1, t.latent_frames, t.motion_per_latent).expand(samples, -1, -1)
        video_codes, motion_codes = self.model.generate("m2v", motion=motion, sampling=sampling)
        return self._decode(video_codes, motion_codes)

    @torch.no_grad()
    def video_to_motion(self, frames: np.ndarray, overlap: int = 5, batch: int = 8, sampling: SamplingConfig = SamplingConfig(),
                        progress: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """V2M over uint8 frames (N, H, W, 3) at the model's fps, window by window
        (`stitching`): poses (N, 72), trans (N, 3) and betas (10,) (the mean over windows)."""
        from unimo.models.unimo.stitching import cross_fade, window_starts
        from unimo.platform import motion_features as mf
        from unimo.platform.console import progress as progress_bar

        T = self.frames
        video = resize_square(frames, self.size)
        n = len(video)
        if n < T:  # too short for one window: hold the last frame
            video = np.concatenate([video, np.repeat(video[-1:], T - n, axis=0)])
        starts = window_starts(len(video), T, overlap)
        poses = np.zeros((len(video), 72), np.float32)
        trans = np.zeros((len(video), 3), np.float32)
        betas, done = [], 0  # frames [0, done) hold the motion so far
        pad = self.motion.config.temporal_stride - 1
        for first in progress_bar(range(0, len(starts), batch), desc="motion capture", unit="batch", disable=not progress):
            chunk = starts[first : first + batch]
            codes = self.video.encode(np.stack([video[s : s + T] for s in chunk]))
            _, motion_codes = self.model.generate("v2m", video=codes, sampling=sampling)
            for i, s in enumerate(chunk):  # in order: each window is placed where the motion so far stands
                start = torch.as_tensor(trans[s][None]) if done else None
                yaw = mf.heading(torch.as_tensor(poses[s : s + 1])[None])[0:1] if done else None
                p, tr, b = self.motion.decode(MotionTokens(motion_codes[i : i + 1].flatten(1), frames=T, start=start, yaw=yaw,
                                                           front_pad=pad))
                p, tr = p[0].numpy(), tr[0].numpy()
                shared = max(0, done - s)
                if shared:
                    p[:shared], tr[:shared] = cross_fade(poses[s:done], trans[s:done], p[:shared], tr[:shared])
                poses[s : s + T], trans[s : s + T] = p, tr
                betas.append(b[0].numpy())
                done = s + T
        return poses[:n], trans[:n], np.mean(betas, axis=0)
