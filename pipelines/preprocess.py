"""The preprocessing pipeline: videos -> windows -> 2D keypoints -> SMPL fit -> shards.

    discover (driver) -> decode (Ray Data flat_map, one task per video)
      -> keypoints (sidecar labels, or a detector stage)
      -> fit + encode (map_batches) -> write_parquet (staging) -> commit (driver)

The fit is in the camera's frame; each window is also moved to the gravity-aligned frame
that learning uses (pipelines/gravity.py): exactly, with the label camera when the input
has sidecar labels; estimated from the fitted body for real video.

Bad inputs never stop the run: each stage catches errors per input or window and records
them in the errors table (Ray Data's own error budget would drop whole blocks, good rows
with the bad). A run writes into OUTPUT/_staging/<run>/ and commits at the end: shards are
moved into clips/ under the run's name, then a ledger of the run's inputs is written. A
rerun skips inputs in any ledger (same URI, size and mtime) and deletes shards of runs that
never wrote theirs, so a killed run leaves no duplicates behind.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unimo.pipelines import shards
from unimo.pipelines.decode import Crop, DecodeConfig, decode_resampled, discover, sidecar_label_path, windows
from unimo.pipelines.fit import CPU_WINDOWS_A_CALL, GPU_WINDOWS_A_CALL, MIN_CPU_WINDOWS_A_CALL, FitConfig
from unimo.pipelines.run_ledger import input_key, prepare_resume, read_ledgers, record_error
from unimo.platform import storage
from unimo.platform.config import option
from unimo.platform.remote_progress import RemoteProgress, add

log = logging.getLogger(__name__)
NO_KEYPOINTS = "none"
STATS = "stats"  # staging side channel: per-batch counts and feature sums


@dataclass
class PreprocessConfig:
    input: str = option(help="videos: a folder URL, a glob, or one file (required)")
    output: str = option(help="output URL for clips/, errors/ and manifest.json (required)")
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    keypoints: str = option("auto", help="'labels' (sidecar only), 'mediapipe', or 'auto' (labels when present, else mediapipe)")
    min_visible: float = option(0.3, help="a window needs this mean keypoint visibility, else 'no person found'")
    fit_batch: int = option(CPU_WINDOWS_A_CALL, help="at most this many windows fitted together (one fit actor's batch) "
                                                     "on a CPU; fewer when a run has fewer videos than actors x fit_batch")
    gpu_fit_batch: int = option(GPU_WINDOWS_A_CALL, help="windows fitted together by a fit actor with a GPU (a cluster "
                                                         "with GPUs and fit.device other than cpu: one fit actor a GPU)")
    body_model: str = option("standin", help="'standin' or a path to SMPL_NEUTRAL.pkl")
    limit: int = option(0, help="process at most this many inputs (0: all)")

    def __post_init__(self):
        if self.keypoints not in ("auto", "labels", "mediapipe"):
            raise ValueError(f"keypoints must be 'auto', 'labels' or 'mediapipe', got '{self.keypoints}'")


# ---------------------------------------------------------------------------------------
# Errors: a side channel of tiny files, compacted at commit.


def record_stats(staging: str, rows: list[dict]) -> None:
    """Counts and feature sums of one batch of shard rows, named by its windows so that a
    retried batch overwrites, never doubles, its file."""
    import hashlib

    import torch

    from unimo.platform.motion_features import to_features

    if not rows:
        return
    feats = torch.cat([to_features(*(torch.from_numpy(m) for m in shards.motion(r).values())) for r in rows]).double()
    name = hashlib.sha1("\n".join(sorted(r["clip_id"] + r["source"] for r in rows)).encode()).hexdigest()
    storage.write_json(storage.join(staging, STATS, f"{name}.json"), {
        "windows": len(rows), "frames": len(feats), "sum": feats.sum(0).tolist(), "sum_sq": (feats**2).sum(0).tolist()})


# ---------------------------------------------------------------------------------------
# Stages (module-level functions: Ray ships them to workers)


def decode_stage(row: dict, cfg: PreprocessConfig, staging: str, progress=None) -> list[dict]:
    """One video -> its windows, with sidecar keypoints when the input has labels."""
    from unimo.pipelines import corpus_format

    add(progress, "videos")

    source = row["source"]
    try:
        frames, index, crop = decode_resampled(storage.read_bytes(source), source, cfg.decode)
        spans = windows(len(frames), cfg.decode)
        if not spans:
            raise ValueError(f"{source}: {len(frames)} frames at {cfg.decode.fps} fps, fewer than min_window={cfg.decode.min_window}")
    except Exception as e:  # noqa: BLE001 - any failure of one input is recorded, not raised
        record_error(staging, row, "decode", e)
        return []
    kp = conf = K = None
    camera = np.full((len(frames), 3, 4), np.nan, np.float32)  # the label camera [R | t], where there is one
    label = sidecar_label_path(source) if cfg.keypoints in ("auto", "labels") else None
    if label:
        try:
            kp, conf, K, camera = sidecar_keypoints(corpus_format.read_label(label), index, crop)
        except Exception as e:  # noqa: BLE001
            record_error(staging, row, "keypoints", e)
            return []
    elif cfg.keypoints == "labels":
        record_error(staging, row, "keypoints", FileNotFoundError(f"{source}: no sidecar labels (keypoints=labels)"))
        return []
    if kp is None:  # a detector stage fills these in
        kp = np.zeros((len(frames), 24, 2), np.float32)
        conf = np.zeros((len(frames), 24), np.float32)
        K = default_K(cfg.decode.size)
    stem = source.rstrip("/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return [
        {**row, "clip_id": f"{stem}-{start:06d}", "start_frame": start, "num_frames": length,
         "frames": frames[start : start + length], "keypoints2d": kp[start : start + length],
         "keypoint_conf": conf[start : start + length], "K": K, "camera": camera[start : start + length],
         "keypoint_source": "labels" if label else NO_KEYPOINTS}
        for start, length in spans
    ]


def sidecar_keypoints(label: dict, index: np.ndarray, crop: Crop):
    """A corpus label's keypoints, visibilities, intrinsics and camera for the decoded frames."""
    if index.max() >= len(label["keypoints2d"]):
        raise ValueError(f"labels have {len(label['keypoints2d'])} frames, the video more")
    kp = crop.apply_points(label["keypoints2d"][index].astype(np.float32))
    conf = label["visibility"][index].astype(np.float32)
    # cropping and scaling change the intrinsics only: the camera's pose stays the label's
    camera = np.concatenate([label["R"][index], label["t"][index][..., None]], -1).astype(np.float32)
    return kp, conf, crop.apply_K(label["K"].astype(np.float64)), camera


def default_K(size: int) -> np.ndarray:
    """Intrinsics for frames without any: a 53-degree field of view, centred."""
    f = size * 1.0
    return np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]], np.float32)


class FitStage:
    """Fits SMPL to each window's keypoints and encodes its frames; emits shard rows."""

    def __init__(self, cfg: PreprocessConfig, staging: str, progress=None, lifter: dict | None = None):
        import torch

        from unimo.pipelines import fit_init
        from unimo.platform import body_model
        from unimo.platform.ray_session import pin_to_free_core

        torch.set_num_threads(1)  # one core per worker: Ray provides the parallelism
        pin_to_free_core()
        fit_init.install(lifter)  # the driver's, so that no node trains its own
        self.cfg, self.staging, self.progress = cfg, staging, progress
        self.kinematics = body_model.load_kinematics(cfg.body_model)

    def __call__(self, batch: dict) -> pa.Table:
        from unimo.pipelines.fit import fit_windows
        from unimo.pipelines.gravity import to_world
        from unimo.pipelines.video_io import encode_mp4

        rows = [{k: batch[k][i] for k in batch} for i in range(len(batch["source"]))]
        out = []
        for length in sorted({int(r["num_frames"]) for r in rows}):
            group = [r for r in rows if int(r["num_frames"]) == length]
            keep = []
            for r in group:
                if str(r["keypoint_source"]) == NO_KEYPOINTS:
                    record_error(self.staging, r, "keypoints", RuntimeError(
                        f"{r['source']}: no sidecar labels and no detector ran (keypoints=mediapipe needs the detector runtime)"))
                elif float(np.mean(r["keypoint_conf"])) < self.cfg.min_visible:
                    record_error(self.staging, r, "keypoints", ValueError(
                        f"{r['source']} frames {r['start_frame']}-{r['start_frame'] + length}: no person found "
                        f"(mean keypoint visibility {float(np.mean(r['keypoint_conf'])):.2f} < {self.cfg.min_visible})"))
                else:
                    keep.append(r)
            if not keep:
                continue
            try:
                res = fit_windows(np.stack([r["keypoints2d"] for r in keep]), np.stack([r["keypoint_conf"] for r in keep]),
                                  np.stack([r["K"] for r in keep]), self.kinematics, self.cfg.fit)
            except Exception as e:  # noqa: BLE001
                for r in keep:
                    record_error(self.staging, r, "fit", e)
                continue
            for i, r in enumerate(keep):
                camera = np.asarray(r["camera"], np.float64)
                world = to_world(res.poses[i], res.trans[i], res.betas[i], self.kinematics,
                                 camera=(camera[..., :3], camera[..., 3]) if np.isfinite(camera).all() else None)
                out.append({
                    "clip_id": r["clip_id"], "source": r["source"], "source_size": int(r["source_size"]),
                    "source_mtime": str(r["source_mtime"]), "start_frame": int(r["start_frame"]), "num_frames": length,
                    "fps": self.cfg.decode.fps, "width": self.cfg.decode.size, "height": self.cfg.decode.size,
                    "frames_mp4": encode_mp4(np.asarray(r["frames"]), self.cfg.decode.fps),
                    "poses": res.poses[i].ravel(), "trans": res.trans[i].ravel(), "betas": res.betas[i],
                    "world_poses": world.poses.ravel(), "world_trans": world.trans.ravel(),
                    "world_from_camera": world.world_from_camera.ravel(), "gravity_source": world.source,
                    "K": np.asarray(r["K"], np.float32).ravel(), "keypoints2d": np.asarray(r["keypoints2d"], np.float32).ravel(),
                    "keypoint_conf": np.asarray(r["keypoint_conf"], np.float32).ravel(),
                    "keypoint_source": str(r["keypoint_source"]), "fit_residual_px": res.residual_px[i],
                    "fit_converged": bool(res.converged[i]),
                })
        record_stats(self.staging, out)
        add(self.progress, "windows fitted", len(out))
        return pa.Table.from_pylist(out, schema=shards.CLIP_SCHEMA)


# ---------------------------------------------------------------------------------------
# Resume and commit


def _tally(staging: str) -> tuple[int, int, dict]:
    """The run's (windows, frames, sums of the motion features), from the fit actors' files."""
    from unimo.platform.motion_features import FEATURE_DIM

    total, total_sq = np.zeros(FEATURE_DIM), np.zeros(FEATURE_DIM)
    windows = frames = 0
    for path in storage.glob(storage.join(staging, STATS, "*.json")):
        part = storage.read_json(path)
        windows, frames = windows + part["windows"], frames + part["frames"]
        total += np.asarray(part["sum"])
        total_sq += np.asarray(part["sum_sq"])
    return windows, frames, {"sum": total.tolist(), "sum_sq": total_sq.tolist(), "count": frames}


def _one_row_per_input(tables: list[pa.Table]) -> list[dict]:
    """Window-level failures of one input fold into its first, with a count."""
    rows = sorted((r for t in tables for r in t.to_pylist()), key=lambda r: (r["source"], r["message"]))
    merged: dict[str, dict] = {}
    for r in rows:
        if r["source"] in merged:
            merged[r["source"]]["_more"] += 1
        else:
            merged[r["source"]] = {**r, "_more": 0}
    out = []
    for r in merged.values():
        more = r.pop("_more")
        if more:
            r["message"] += f" (and {more} more window{'s' if more > 1 else ''})"
        out.append(r)
    return out


def commit(output: str, staging: str, run: str, inputs: list[dict], config_hash: str) -> dict:
    """Move the run's shards into place, write its ledger, and rewrite the manifest."""
    from unimo.platform import tracking

    staged = storage.glob(storage.join(staging, shards.CLIPS, "*.parquet"))
    clip_rows, frames, sums = _tally(staging)
    for path in staged:
        storage.move(path, storage.join(output, shards.CLIPS, f"{run}--{path.rsplit('/', 1)[-1]}"))
    errors = []
    for path in storage.glob(storage.join(staging, shards.ERRORS, "*.parquet")):
        fs, p = storage.pyarrow_filesystem(path)
        errors.append(pq.read_table(p, filesystem=fs))
    error_rows = _one_row_per_input(errors)
    if error_rows:
        fs, p = storage.pyarrow_filesystem(storage.join(output, shards.ERRORS, f"{run}--errors.parquet"))
        fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
        pq.write_table(pa.Table.from_pylist(error_rows, schema=shards.ERROR_SCHEMA), p, filesystem=fs)
    error_rows = len(error_rows)
    ledger = {"run": run, "inputs": [list(input_key(r)) for r in inputs], "clips": clip_rows, "frames": frames,
              "errors": error_rows, "feature_sums": sums, "config_hash": config_hash}
    storage.write_json(storage.join(output, shards.LEDGER, f"{run}.json"), ledger)
    storage.remove(staging, recursive=True)

    ledgers = read_ledgers(output)
    count = sum(lg["feature_sums"]["count"] for lg in ledgers)
    mean = sum(np.array(lg["feature_sums"]["sum"]) for lg in ledgers) / max(count, 1)
    var = sum(np.array(lg["feature_sums"]["sum_sq"]) for lg in ledgers) / max(count, 1) - mean**2
    shards.Manifest(
        clips=sum(lg["clips"] for lg in ledgers), frames=sum(lg["frames"] for lg in ledgers),
        errors=sum(lg["errors"] for lg in ledgers), inputs=sum(len(lg["inputs"]) for lg in ledgers),
        config_hash=config_hash, code_version=tracking.git_commit(), runs=sorted(lg["run"] for lg in ledgers),
        stats={"mean": mean.tolist(), "std": np.sqrt(np.maximum(var, 0)).tolist(), "frames": count},
    ).write(output)
    return ledger


# ---------------------------------------------------------------------------------------


@dataclass
class Summary:
    run: str
    inputs_found: int
    inputs_skipped: int
    inputs_processed: int
    clips_ok: int
    frames: int
    inputs_failed: int
    seconds: float
    output: str
    fit_batch: int = 0  # windows a fit call (0: nothing was fitted)

    def __str__(self) -> str:
        rate = self.frames / self.seconds if self.seconds else 0.0
        return "\n".join([
            f"preprocess run {self.run}",
            f"  inputs      {self.inputs_found} found, {self.inputs_skipped} already done, {self.inputs_processed} processed",
            f"  clips ok    {self.clips_ok} windows, {self.frames} frames ({rate:.1f} frames/s"
            + (f", up to {self.fit_batch} windows a fit call)" if self.fit_batch else ")"),
            f"  failed      {self.inputs_failed} errors (see errors/*.parquet)",
            f"  output      {self.output}",
            f"  took        {self.seconds:.1f} s",
        ])


def run_preprocess(cfg: PreprocessConfig) -> Summary:
    import ray

    from unimo.platform import ray_session
    from unimo.platform.config import config_hash

    start = time.perf_counter()
    output = storage.resolve(cfg.output)
    found = discover(storage.resolve(cfg.input))
    done = prepare_resume(output, shards.CLIPS)
    todo = [r for r in found if input_key(r) not in done]
    if cfg.limit:
        todo = todo[: cfg.limit]
    run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    staging = storage.join(output, shards.STAGING, run)
    ledger = {"clips": 0, "frames": 0, "errors": 0}
    batch = 0
    if todo:
        ray_session.connect()
        lifter = None
        if cfg.fit.init == "learned":  # trained here on first use, then handed to every fit actor
            from unimo.pipelines import fit_init
            from unimo.platform import body_model

            lifter = fit_init.shareable(body_model.load_kinematics(cfg.body_model))
        with RemoteProgress({"videos": ("video", len(todo)), "windows fitted": ("window", None)}) as counts:
            ds = ray.data.from_items(todo, override_num_blocks=len(todo))
            # Fractional CPUs: stages that each hold a whole core can starve one another on small
            # machines (Ray Data then waits forever); each worker still runs one thread.
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            ds = ds.flat_map(decode_stage, fn_kwargs={"cfg": cfg, "staging": staging, "progress": counts.handle}, num_cpus=0.5)
            if cfg.keypoints == "mediapipe" or (cfg.keypoints == "auto" and any(sidecar_label_path(r["source"]) is None for r in todo)):
                from unimo.pipelines.keypoints import add_detector_stage

                ds = add_detector_stage(ds)
            # on a GPU the fit is a few hundred small kernels an iteration: it pays with many
            # windows a call, so one actor a GPU fits big batches (benchmarks/bench_fit_device.py)
            gpus = int(ray.cluster_resources().get("GPU", 0)) if cfg.fit.device != "cpu" else 0
            actors = gpus or cpus
            # on a CPU too, many windows a call fit faster (the Adam step's overhead is shared:
            # docs/benchmarks.md), but a small run still spreads over every actor: a video
            # usually gives one window or more, so this many videos give each actor a full batch
            batch = cfg.gpu_fit_batch if gpus else min(cfg.fit_batch, max(MIN_CPU_WINDOWS_A_CALL, math.ceil(len(todo) / actors)))
            ds = ds.map_batches(
                FitStage, fn_constructor_kwargs={"cfg": cfg, "staging": staging, "progress": counts.handle, "lifter": lifter},
                batch_size=batch,
                # start them all at once (a late actor imports torch while the others wait)
                compute=ray.data.ActorPoolStrategy(min_size=min(actors, len(todo)), max_size=actors),
                **({"num_gpus": 1} if gpus else {"num_cpus": 0.5}),
            )
            fs, path = storage.pyarrow_filesystem(storage.join(staging, shards.CLIPS))
            ds.write_parquet(path, filesystem=fs)
        ledger = commit(output, staging, run, todo, config_hash(cfg))
    skipped = sum(input_key(r) in done for r in found)
    return Summary(run=run, inputs_found=len(found), inputs_skipped=skipped,
                   inputs_processed=len(todo), clips_ok=ledger["clips"], frames=ledger["frames"],
                   inputs_failed=ledger["errors"], seconds=time.perf_counter() - start, output=output, fit_batch=batch)
