"""UniMo from pixels and SMPL to pixels and SMPL: the transformer with both tokenizers,
for the user jobs (`jobs/generate.py`).

    media = UniMoMedia.load("runs:/<unimo run id>")      # tokenizers: the ones that wrote its token shards
    clip = media.image_to_video_and_motion(image)        # I2VM: uint8 (H, W, 3) -> frames and SMPL motion
    clip = media.motion_to_video(poses, trans, betas)    # M2V: a motion of T frames -> frames

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
