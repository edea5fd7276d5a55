"""Building a synthetic corpus: one Ray task a clip, each writing its video and labels.

A clip is a pure function of (config, seed, clip index): its random generator is seeded
with both, so any clip can be rebuilt alone and a rerun skips the clips already written
(the label file is written last, so its presence means the clip is complete).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np

from unimo.pipelines import corpus_format, procedural
from unimo.pipelines.motion import Motion
from unimo.platform import storage
from unimo.platform.config import option


IMPORT_EXTENSIONS = {"amass": (".npz",), "bvh": (".bvh",), "deepmimic": (".txt",)}
REGISTRY_SOURCES = {"bvhtools": "bvh", "deepmimic": "deepmimic"}  # real mocap from package registries: its format


@dataclass
class CorpusConfig:
    out: str = option("", help="output URL (default: UNIMO_HOME/datasets/corpus)")
    clips: int = option(16, help="number of clips")
    seed: int = option(0, help="random seed: the same seed and clip id give the same clip")
    frames: int = option(64, help="frames per clip (the most, when min_frames is set)")
    min_frames: int = option(0, help="if > 0, each clip's length is drawn uniformly from [min_frames, frames]")
    fps: float = option(30.0, help="frames per second")
    size: int = option(128, help="frame width and height in pixels (even)")
    source: str = option("procedural", help="'procedural'; 'amass PATH', 'bvh PATH' or 'deepmimic PATH' to render imported "
                                            "motion; or real mocap from the registries: 'bvhtools' or 'deepmimic' (see split)")
    split: str = option("train", help="registry sources: their 'train' files, or 'held_out' (for evaluations: no model or prior trains on them)")
    videos: bool = option(True, help="render and encode each clip's video; false: motion labels only (enough to train a motion tokenizer; rendering is most of a clip's cost)")
    families: list[str] = option(list(procedural.FAMILIES), help="procedural motion families to draw from")
    body_model: str = option("standin", help="'standin' or a path to SMPL_NEUTRAL.pkl (or its folder)")
    num_cpus_per_clip: float = option(1.0, help="CPU reserved by each clip's Ray task")

    def __post_init__(self):
        if self.clips < 1 or self.frames < 2:
            raise ValueError("clips must be >= 1 and frames >= 2")
        if self.min_frames and not 2 <= self.min_frames <= self.frames:
            raise ValueError(f"min_frames must be between 2 and frames={self.frames}, got {self.min_frames}")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be an even number >= 16, got {self.size}")
        unknown = set(self.families) - set(procedural.FAMILIES)
        if unknown:
            raise ValueError(f"unknown families {sorted(unknown)} (known: {', '.join(procedural.FAMILIES)})")
        if self.split not in ("train", "held_out"):
            raise ValueError(f"split must be 'train' or 'held_out', got '{self.split}'")
        self.source_kind()  # validates

    def source_kind(self) -> tuple[str, str | None]:
        """('procedural', None), ('bvhtools' | 'deepmimic', None) or ('amass' | 'bvh' | 'deepmimic', PATH)."""
        kind, _, path = self.source.strip().partition(" ")
        if (kind == "procedural" or kind in REGISTRY_SOURCES) and not path:
            return kind, None
        if kind in IMPORT_EXTENSIONS and path.strip():
            return kind, path.strip()
        raise ValueError(f"source must be 'procedural', 'amass PATH', 'bvh PATH', 'deepmimic PATH', 'bvhtools' or 'deepmimic', "
                         f"got '{self.source}'")

    def file_format(self) -> str:
        """The importer the source's files need ('procedural' for none)."""
        kind, _ = self.source_kind()
        return REGISTRY_SOURCES.get(kind, kind)


def clip_id(index: int) -> str:
    return f"clip_{index:06d}"


def motion_files(cfg: CorpusConfig) -> list[str]:
    """The files an import corpus draws its clips from (none for procedural motion)."""
    kind, path = cfg.source_kind()
    if kind in REGISTRY_SOURCES:
        from unimo.pipelines.registry_data import registry_motion

        return registry_motion(kind, cfg.split)
    return list_motion_files(kind, path) if path else []


def list_motion_files(kind: str, path: str) -> list[str]:
    """Every motion file of `kind` under a folder, glob or single file URL."""
    from unimo.pipelines.motion import MotionFileError

    files = storage.glob(path) if any(c in path for c in "*?[") else storage.find(path)
    files = [f for f in files if f.lower().endswith(IMPORT_EXTENSIONS[kind])]
    if not files:
        raise MotionFileError(f"no {kind} files ({', '.join(IMPORT_EXTENSIONS[kind])}) under '{path}'")
    return files


@functools.lru_cache(maxsize=8)  # a corpus cuts many clips from each file, taking files in turn
def load_motion_file(kind: str, path: str, kinematics, fps: float, min_seconds: float = 0.0) -> Motion:
    """An imported file, retargeted to the body model and resampled to `fps` (once per
    process: resampling a whole recording costs more than cutting a clip from it). Looping
    clips (DeepMimic's) play until they last `min_seconds`."""
    if kind == "amass":
        from unimo.pipelines.amass import load_amass

        return load_amass(path, kinematics).resample(fps)
    if kind == "deepmimic":
        from unimo.pipelines.deepmimic import load_deepmimic

        return load_deepmimic(path, kinematics, min_seconds=min_seconds).resample(fps)
    from unimo.pipelines.bvh import load_bvh

    return load_bvh(path, kinematics).resample(fps)


def make_motion(cfg: CorpusConfig, index: int, rng: np.random.Generator, kinematics, files: list[str]) -> Motion:
    kind, _ = cfg.source_kind()
    frames = int(rng.integers(cfg.min_frames, cfg.frames + 1)) if cfg.min_frames else cfg.frames
    if kind == "procedural":
        family = cfg.families[int(rng.integers(len(cfg.families)))]
        return procedural.generate(family, frames, cfg.fps, rng, kinematics)
    # Files in turn; one too short for the clip (a short, non-looping clip) passes its turn on.
    for k in range(len(files)):
        source = files[(index + k) % len(files)]
        full = load_motion_file(cfg.file_format(), source, kinematics, cfg.fps, (cfg.frames + 1) / cfg.fps)
        if len(full) >= frames:
            break
    else:
        raise ValueError(f"every motion file of '{cfg.source}' has fewer than frames={frames} frames at {cfg.fps} fps")
    start = int(rng.integers(0, len(full) - frames + 1))
    motion = full.window(start, frames)
    motion.meta["start_frame"] = start
    return motion


def rendered_clip(cfg: CorpusConfig, index: int, files: list[str] | tuple = ()):
    """Clip `index`'s motion and rendering, in memory and never encoded (no PyAV): the
    frames `make_clip` would encode, for a machine without PyAV (the GPU check)."""
    from unimo.pipelines import synthetic
    from unimo.platform import body_model

    rng = np.random.default_rng([cfg.seed, index])  # the same draws as make_clip's
    motion = make_motion(cfg, index, rng, body_model.load_kinematics(cfg.body_model), list(files))
    return motion, synthetic.render_motion(motion, synthetic.rig(cfg.body_model), cfg.size, rng)


def make_clip(cfg: CorpusConfig, out: str, index: int, files: list[str]) -> dict:
    """Generate, render, encode and write one clip (or, without videos, its motion only);
    returns its summary (with timings)."""
    from unimo.platform import body_model

    cid = clip_id(index)
    label_url = corpus_format.label_path(out, cid)
    if storage.exists(label_url):
        return {"clip_id": cid, "skipped": True}
    rng = np.random.default_rng([cfg.seed, index])
    kinematics = body_model.load_kinematics(cfg.body_model)
    t0 = time.perf_counter()
    motion = make_motion(cfg, index, rng, kinematics, files)
    t1 = time.perf_counter()
    motion_label = {"poses": motion.poses, "trans": motion.trans, "betas": motion.betas,
                    "mocap_framerate": np.float32(cfg.fps), "gender": np.str_("neutral")}
    info = {k: v for k, v in motion.meta.items() if k in ("family", "source", "start_frame")}
    if not cfg.videos:
        corpus_format.write_label(label_url, motion_label)
        return {"clip_id": cid, "skipped": False, "info": info, "bytes": 0,
                "seconds": {"generate": t1 - t0, "render": 0.0, "encode": 0.0}}
    from unimo.pipelines import synthetic, video_io  # rendering and PyAV only where videos are made

    clip = synthetic.render_motion(motion, synthetic.rig(cfg.body_model), cfg.size, rng)
    t2 = time.perf_counter()
    video = video_io.encode_mp4(clip.frames, cfg.fps)
    t3 = time.perf_counter()
    storage.write_bytes(corpus_format.video_path(out, cid), video)
    corpus_format.write_label(label_url, {
        **motion_label, "K": clip.K, "R": clip.R, "t": clip.t,
        "keypoints2d": clip.keypoints2d, "visibility": clip.visibility,
    })
    return {"clip_id": cid, "skipped": False, "info": info, "bytes": len(video),
            "seconds": {"generate": t1 - t0, "render": t2 - t1, "encode": t3 - t2}}


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


def local_pool(workers: int | None = None):
    """A process pool for a machine without Ray. Spawned, not forked: the parent may hold
    torch threads (and CUDA) already. One torch thread a worker, or N workers x N threads
    oversubscribe the machine."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_one_torch_thread)


def build_corpus(cfg: CorpusConfig, out: str, progress: bool = True, use_ray: bool = True
                 ) -> tuple[corpus_format.CorpusManifest, list[dict]]:
    """Make every clip and write the manifest; returns it with each clip's summary (timings,
    or `skipped` for clips already there). Each clip is a Ray task; with `use_ray=False`, a
    task of a local process pool instead (where Ray is not installed: the same clips)."""
    from unimo.platform import body_model, tracking
    from unimo.platform.console import progress as progress_bar

    body = body_model.resolve(cfg.body_model)  # bad inputs fail here, before Ray starts
    files = motion_files(cfg)
    results = []
    with progress_bar(total=cfg.clips, desc="clips", unit="clip", disable=not progress) as bar:
        if not use_ray:
            from concurrent.futures import as_completed

            with local_pool() as pool:
                for future in as_completed([pool.submit(make_clip, cfg, out, i, files) for i in range(cfg.clips)]):
                    results.append(future.result())
                    bar.update(1)
        else:
            import ray

            from unimo.platform import ray_session

            ray_session.connect()
            task = ray.remote(num_cpus=cfg.num_cpus_per_clip)(make_clip)
            pending = [task.remote(cfg, out, i, files) for i in range(cfg.clips)]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                results.extend(ray.get(done))
                bar.update(len(done))
    results.sort(key=lambda r: r["clip_id"])
    manifest = corpus_format.CorpusManifest(
        seed=cfg.seed, clips=cfg.clips, frames=cfg.frames, fps=cfg.fps, size=cfg.size, source=cfg.source,
        body_model={"path": body.path, "is_standin": body.is_standin, "spec": cfg.body_model},
        clip_ids=[r["clip_id"] for r in results],
        clip_info=_merged_info(out, results),
        code_version=tracking.git_commit(), videos=cfg.videos,
    )
    manifest.write(out)
    return manifest, results


def _merged_info(out: str, results: list[dict]) -> dict:
    """Per-clip info; for clips skipped on a rerun, what the previous manifest recorded."""
    previous = {}
    if any(r["skipped"] for r in results) and storage.exists(storage.join(out, corpus_format.MANIFEST)):
        previous = corpus_format.CorpusManifest.read(out).clip_info
    return {r["clip_id"]: r.get("info", previous.get(r["clip_id"], {})) for r in results}


def run_tracked(cfg: CorpusConfig, out: str):
    """`build_corpus` inside an active MLflow run: logs counts, timing, the manifest and a
    sample video."""
    import mlflow

    from unimo.platform import tracking

    start = time.perf_counter()
    manifest, results = build_corpus(cfg, out)
    made = [r for r in results if not r["skipped"]]
    mlflow.log_metrics({
        "clips_written": len(made),
        "clips_skipped": len(results) - len(made),
        "wall_seconds": time.perf_counter() - start,
        "video_bytes": sum(r["bytes"] for r in made),
    })
    mlflow.log_text(storage.read_text(storage.join(out, corpus_format.MANIFEST)), "corpus.json")
    first = manifest.clip_ids[0]
    tracking.log_bytes(storage.read_bytes(corpus_format.video_path(out, first)), f"samples/{first}.mp4")
    return manifest, results


def held_out_corpus(clips: int, frames: int, seed: int, size: int = 128, source: str = "procedural",
                    body_model: str = "standin") -> str:
    """A corpus of held-out clips under UNIMO_HOME/datasets, rendered once and reused:
    procedural motion with the evaluation's seed (no training corpus uses it), or a real
    source's held-out files; a user's own motion files are refused if any prior learned from
    them (`pose_prior.refuse_seen`)."""
    import hashlib

    from unimo.platform.home import home_path

    cfg = CorpusConfig(clips=clips, frames=frames, seed=seed, size=size, body_model=body_model, source=source, split="held_out")
    kind, path = cfg.source_kind()
    if path:
        from unimo.pipelines.pose_prior import refuse_seen

        refuse_seen(motion_files(cfg))
    name = kind if kind == "procedural" or kind in REGISTRY_SOURCES else f"{kind}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    prefix = "heldout" if kind == "procedural" else f"heldout_{name}"
    out = home_path("datasets", f"{prefix}_seed{seed}_{clips}x{frames}" + (f"_{size}px" if size != 128 else ""))
    build_corpus(cfg, out, progress=False)
    return out
