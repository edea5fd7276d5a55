"""Corpus generation speed, per core: procedural motion, rendering and H.264 encoding.

    .venv/bin/python benchmarks/bench_corpus.py [--clips 8] [--frames 64] [--size 128]

Runs on one thread (torch and x264 alike) so the figures are per core; Ray runs one clip
per core. The rasterizer is also compared, on the same frames in the same process, with a
dense baseline that tests every pixel against every face (what a naive rasterizer does).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from unimo.pipelines import procedural, synthetic, video_io
from unimo.platform import body_model
from unimo.platform.render import MeshRenderer, project


def dense_rasterize(renderer: MeshRenderer, uv: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Baseline: barycentric test of every pixel centre against every front face."""
    f = renderer.faces
    p, zf = uv[f], z[f]
    area = (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1])
    keep = (area < 0) & (zf.amin(1) > renderer.near)
    p, zf, area, idx = p[keep], zf[keep], area[keep], torch.nonzero(keep).squeeze(1)
    c = renderer.pixel_centers
    depth = torch.full((len(c),), torch.inf)
    face = torch.full((len(c),), -1)
    for chunk in torch.split(torch.arange(len(idx)), 512):
        a, b, d = p[chunk, 0], p[chunk, 1], p[chunk, 2]

        def edge(p0, p1):
            return (p1[:, None, 0] - p0[:, None, 0]) * (c[None, :, 1] - p0[:, None, 1]) - (p1[:, None, 1] - p0[:, None, 1]) * (c[None, :, 0] - p0[:, None, 0])

        w0, w1, w2 = (edge(b, d) / area[chunk, None], edge(d, a) / area[chunk, None], edge(a, b) / area[chunk, None])
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        zz = 1 / (w0 / zf[chunk, 0, None] + w1 / zf[chunk, 1, None] + w2 / zf[chunk, 2, None])
        zz = torch.where(inside, zz, torch.inf)
        best, arg = zz.min(0)
        better = best < depth
        depth = torch.where(better, best, depth)
        face = torch.where(better, idx[chunk][arg], face)
    return face


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)

    kin = body_model.load_kinematics(body_model.STANDIN)
    rig = synthetic.rig(body_model.STANDIN)
    seconds = {"generate": 0.0, "render": 0.0, "encode": 0.0}
    clips = []
    for i in range(args.clips + 1):  # the first clip warms up caches and is not counted
        rng = np.random.default_rng([0, i])
        t0 = time.perf_counter()
        motion = procedural.generate(procedural.FAMILIES[i % len(procedural.FAMILIES)], args.frames, 30.0, rng, kin)
        t1 = time.perf_counter()
        clip = synthetic.render_motion(motion, rig, args.size, rng)
        t2 = time.perf_counter()
        video_io.encode_mp4(clip.frames, 30.0)
        t3 = time.perf_counter()
        if i:
            for k, dt in zip(seconds, (t1 - t0, t2 - t1, t3 - t2)):
                seconds[k] += dt
            clips.append(motion)

    # Rasterizer vs the dense baseline, on the same posed frames.
    m = clips[0]
    with torch.no_grad():
        verts = rig.smpl(global_orient=torch.from_numpy(m.poses[:4, :3]), body_pose=torch.from_numpy(m.poses[:4, 3:]),
                         betas=torch.from_numpy(m.betas)[None].expand(4, -1), transl=torch.from_numpy(m.trans[:4])).vertices
    K, R, t = synthetic.random_camera(np.random.default_rng(0), verts.mean(1).numpy(), args.size, 30.0)
    renderer = MeshRenderer(rig.faces, args.size, args.size)
    uv, z = project(verts, K, R[:4], t[:4])
    t0 = time.perf_counter()
    ours = [renderer.rasterize(uv[i], z[i])[1] for i in range(4)]
    t1 = time.perf_counter()
    dense = [dense_rasterize(renderer, uv[i], z[i]) for i in range(4)]
    t2 = time.perf_counter()
    agree = float(np.mean([(a == b).float().mean() for a, b in zip(ours, dense)]))

    total = sum(seconds.values())
    print(f"corpus generation, one core: {args.clips} clips of {args.frames} frames at {args.size}x{args.size}\n")
    print("| stage | clips/s per core | frames/s per core |")
    print("| --- | --- | --- |")
    for k, s in seconds.items():
        print(f"| {k} | {args.clips / s:.2f} | {args.clips * args.frames / s:.0f} |")
    print(f"| all three | {args.clips / total:.2f} | {args.clips * args.frames / total:.0f} |")
    print(f"\nrasterizer vs dense baseline (same 4 frames): {(t2 - t1) / (t1 - t0):.1f}x faster, "
          f"{agree:.4%} of pixels pick the same face")


if __name__ == "__main__":
    main()
