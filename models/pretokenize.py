"""Pre-tokenization: clips and their motion -> token shards (`token_shards`), with Ray Data.

    discover (driver) -> tokenize (map_batches over inputs, an actor pool: each actor
      loads both tokenizers once, on a GPU when the cluster has one, and decodes, resizes
      and cuts its own inputs into windows before tokenizing them, then writes them as
      a staged shard) -> commit (driver)

It lives in `models`, not `pipelines`, because it runs the trained tokenizers: pipelines
never import models (the layering `tests/test_layout.py` checks).

Decoding in the actors, not in tasks of their own: a decode task costs a few milliseconds of
work and a Ray task's overhead besides, and on a small machine the decode tasks' worker
processes were what held the tokenizer actors back (2 CPUs were 1.2-1.3x one, with the
actors idle half the time).

Input, either of:
  - a corpus with videos (jobs/make_corpus.py, or your own in its layout): one input per
    video, its motion from the label;
  - preprocessing shards (jobs/preprocess.py): one input per shard row (one window), its
    frames from `frames_mp4`, its motion from `shards.MOTION_COLUMNS`.
Both give motion in the gravity-aligned world frame (y up) the motion tokenizer trains on;
a shard's camera-frame `poses`/`trans` are for overlays and never tokenized. The driver
reads only the shards' light columns; each task reads its own row's frames and motion.

Bad inputs never stop the run: they go to the errors table and every good window is
written. A run commits at its end; a rerun skips inputs already committed and removes what
a killed run left: preprocessing's scheme (`run_ledger`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from unimo.pipelines import shards, token_shards
from unimo.pipelines.run_ledger import input_key, prepare_resume, read_ledgers, record_error
from unimo.platform import storage
from unimo.platform.config import option
from unimo.platform.errors import UnimoError
from unimo.platform.remote_progress import RemoteProgress, add

log = logging.getLogger(__name__)


@dataclass
class PretokenizeConfig:
    input: str = option(help="a corpus URL with videos and labels, or preprocessing shards (required)")
    output: str = option(help="output URL for tokens/, errors/ and manifest.json (required)")
    video_tokenizer: str = option(help="checkpoint folder, state.pt, runs:/<run id>, or cosmos:PATH (required)")
    motion_tokenizer: str = option(help="checkpoint folder, state.pt, runs:/<run id> or models:/<name>@champion (required)")
    frames: int = option(17, help="frames per window: 1 + t * k for the video tokenizer's t")
    size: int = option(64, help="frames are centre-cropped and resized to size x size")
    batch: int = option(8, help="windows tokenized together; also inputs handed to an actor at a time")
    limit: int = option(0, help="process at most this many inputs (0: all)")


# -- stages (module-level: Ray ships them to workers) ---------------------------------------


def discover(url: str) -> list[dict]:
    """Inputs as rows of (clip_id, source, source_size, source_mtime, fps, ...): the ledger
    and the errors table name an input by its source, size and mtime."""
    from unimo.pipelines import corpus_format

    if storage.exists(storage.join(url, shards.MANIFEST)):
        rows = discover_shards(url)
    elif storage.exists(storage.join(url, corpus_format.MANIFEST)):
        rows = discover_corpus(url)
    else:
        raise UnimoError(f"input '{url}' is neither a corpus ({corpus_format.MANIFEST} missing) nor preprocessing shards "
                         f"({shards.MANIFEST} missing)")
    if not rows:
        raise UnimoError(f"input '{url}' holds no clips")
    return rows


def discover_corpus(url: str) -> list[dict]:
    """One input per video, its motion from its label."""
    from unimo.pipelines import corpus_format

    manifest = corpus_format.CorpusManifest.read(url)
    if not manifest.videos:
        raise UnimoError(f"corpus '{url}' holds motion only (made with --videos false): pre-tokenization needs videos")
    rows = []
    for cid in manifest.clip_ids:
        video = corpus_format.video_path(url, cid)
        info = storage.info(video) if storage.exists(video) else {"size": None, "mtime": None}
        rows.append({"clip_id": cid, "source": video, "label": corpus_format.label_path(url, cid),
                     "source_size": info["size"], "source_mtime": info["mtime"], "fps": manifest.fps})
    return rows


_LIGHT = ["clip_id", "source", "source_size", "source_mtime", "fps"]  # all the driver reads of shards


def discover_shards(url: str) -> list[dict]:
    """One input per shard row, found again by (file, index) in its task. Its source is
    '<video URL>#<shard clip id>' (a clip id alone repeats across videos of one stem), with
    the video's size and mtime: stable across reruns, as a corpus input's key is."""
    shards.Manifest.read(url)  # shards of another schema are refused here, in one line
    rows = []
    for path in storage.glob(storage.join(url, shards.CLIPS, "*.parquet")):
        fs, p = storage.pyarrow_filesystem(path)
        for index, r in enumerate(pq.read_table(p, filesystem=fs, columns=_LIGHT).to_pylist()):
            rows.append({**r, "source": f"{r['source']}#{r['clip_id']}", "shard": path, "index": index})
    return rows


def read_input(row: dict) -> tuple[np.ndarray, dict]:
    """One input's frames (T, H, W, 3) and motion {poses, trans, betas}, world frame."""
    from unimo.pipelines import corpus_format, video_io

    if "shard" not in row:
        frames, _ = video_io.decode(storage.read_bytes(row["source"]), name=row["source"])
        return frames, corpus_format.read_label(row["label"])
    # the file's column is read, one row decoded: cheap while shard files hold few windows
    # (one per task grows with rows per file; then group a file's rows into one task)
    fs, path = storage.pyarrow_filesystem(row["shard"])
    table = pq.read_table(path, filesystem=fs, columns=["num_frames", "frames_mp4", *shards.MOTION_COLUMNS])
    shard_row = table.slice(row["index"], 1).to_pylist()[0]
    frames, _ = video_io.decode(shard_row["frames_mp4"], name=row["source"])
    return frames, shards.motion(shard_row)


def windows_stage(row: dict, cfg: PretokenizeConfig, staging: str) -> list[dict]:
    """One input -> its windows of `cfg.frames` frames, video and motion; errors recorded."""
    from unimo.models.video_tokenizer.data import resize_square

    try:
        frames, motion = read_input(row)
        n = min(len(frames), len(motion["poses"]))
        if n < cfg.frames:
            raise ValueError(f"{n} frames, fewer than one window of {cfg.frames}")
        video = resize_square(frames[:n], cfg.size)
    except Exception as e:  # noqa: BLE001 - any failure of one input is that input's error
        record_error(staging, row, "decode", e)
        return []
    return [{"clip_id": f"{row['clip_id']}-{s:05d}", "source": row["source"], "start_frame": s, "video": video[s : s + cfg.frames],
             "poses": motion["poses"][s : s + cfg.frames].astype(np.float32), "trans": motion["trans"][s : s + cfg.frames].astype(np.float32),
             "betas": motion["betas"].astype(np.float32), "source_size": row["source_size"], "source_mtime": row["source_mtime"]}
            for s in range(0, n - cfg.frames + 1, cfg.frames)]


class TokenizeStage:
    """A Ray Data actor: both tokenizers, loaded once, on the actor's device."""

    def __init__(self, cfg: PretokenizeConfig, staging: str, progress=None):
        import torch

        from unimo.models.motion_tokenizer.api import MotionTokenizerInference
        from unimo.models.video_tokenizer.api import VideoTokenizerInference
        from unimo.platform.ray_session import pin_to_free_core

        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu":
            torch.set_num_threads(1)  # one actor per CPU: parallel across actors, not threads
            pin_to_free_core()
        self.cfg, self.staging, self.progress = cfg, staging, progress
        self.staging_ready = False  # its shard folder, made on the first write
        self.video = VideoTokenizerInference.load(cfg.video_tokenizer, device=device)
        self.motion = MotionTokenizerInference.load(cfg.motion_tokenizer, device=device)

    def tokenize(self, rows: list[dict]) -> list[dict]:
        import torch

        codes = self.video.encode(np.stack([r["video"] for r in rows]))
        poses, trans, betas = (torch.as_tensor(np.stack([r[k] for r in rows])).to(self.motion.model.mean.device)
                               for k in ("poses", "trans", "betas"))
        motion = self.motion.encode(poses, trans, betas, video_aligned=True)
        out = []
        for i, r in enumerate(rows):
            out.append({"clip_id": r["clip_id"], "source": r["source"], "start_frame": int(r["start_frame"]),
                        "num_frames": len(r["video"]), "video_tokens": codes[i].flatten().int().tolist(),
                        "motion_tokens": motion.codes[i].flatten().int().tolist(),
                        "motion_start": motion.start[i].float().cpu().tolist(), "motion_yaw": float(motion.yaw[i]),
                        "betas": r["betas"].astype(np.float32).tolist()})
        return out

    def tokenize_safely(self, rows: list[dict]) -> list[dict]:
        try:
            return self.tokenize(rows)
        except Exception:  # noqa: BLE001 - find the bad rows one by one, keep the good ones
            out = []
            for r in rows:
                try:
                    out += self.tokenize([r])
                except Exception as e:  # noqa: BLE001
                    record_error(self.staging, r, "tokenize", e)
            return out

    def __call__(self, batch: dict) -> pa.Table:
        inputs = [dict(zip(batch, values)) for values in zip(*batch.values())]
        windows = [w for row in inputs for w in windows_stage(row, self.cfg, self.staging)]
        out = []
        for start in range(0, len(windows), self.cfg.batch):
            out += self.tokenize_safely(windows[start : start + self.cfg.batch])
        if out:
            self.write(pa.Table.from_pylist(out, schema=token_shards.TOKEN_SCHEMA))
        add(self.progress, "windows tokenized", len(out))
        return {"windows": np.array([len(out)])}

    def write(self, table: pa.Table) -> None:
        """One staged shard a batch, written here rather than by Ray Data's write tasks: on a
        small machine those tasks' worker processes and the tokens' trip through the object
        store competed with the actors (on 1 CPU they could not run at all until the last
        actor had finished, and wrote everything at the end)."""
        fs, path = storage.pyarrow_filesystem(storage.join(self.staging, token_shards.TOKENS, f"{uuid.uuid4().hex}.parquet"))
        if not self.staging_ready:
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            self.staging_ready = True
        pq.write_table(table, path + ".partial", filesystem=fs)
        fs.move(path + ".partial", path)  # an actor killed mid-write leaves no shard that commit would read


# -- the run -------------------------------------------------------------------------------


def commit(output: str, staging: str, run: str, inputs: list[dict], manifest: token_shards.TokenManifest) -> dict:
    """Move the run's shards into place, write its ledger, and rewrite the manifest."""
    staged = storage.glob(storage.join(staging, token_shards.TOKENS, "*.parquet"))
    clips = 0
    for path in staged:
        fs, p = storage.pyarrow_filesystem(path)
        clips += pq.read_metadata(p, filesystem=fs).num_rows
        storage.move(path, storage.join(output, token_shards.TOKENS, f"{run}--{path.rsplit('/', 1)[-1]}"))
    errors = []
    for path in storage.glob(storage.join(staging, token_shards.ERRORS, "*.parquet")):
        fs, p = storage.pyarrow_filesystem(path)
        errors += pq.read_table(p, filesystem=fs).to_pylist()
    if errors:
        fs, p = storage.pyarrow_filesystem(storage.join(output, token_shards.ERRORS, f"{run}--errors.parquet"))
        fs.create_dir(p.rsplit("/", 1)[0], recursive=True)
        pq.write_table(pa.Table.from_pylist(errors, schema=shards.ERROR_SCHEMA), p, filesystem=fs)
    ledger = {"run": run, "inputs": [list(input_key(r)) for r in inputs], "clips": clips, "errors": len(errors)}
    storage.write_json(storage.join(output, token_shards.LEDGER, f"{run}.json"), ledger)
    storage.remove(staging, recursive=True)
    ledgers = read_ledgers(output)
    manifest.clips, manifest.errors = sum(lg["clips"] for lg in ledgers), sum(lg["errors"] for lg in ledgers)
    manifest.inputs, manifest.runs = sum(len(lg["inputs"]) for lg in ledgers), sorted(lg["run"] for lg in ledgers)
    manifest.write(output)
    return ledger


def plan_manifest(cfg: PretokenizeConfig, fps: float) -> token_shards.TokenManifest:
    """The manifest of this configuration, checked before any work: both tokenizers load,
    agree on time, and take clips of `cfg.frames` frames at `cfg.size` pixels."""
    from unimo.models import timeline
    from unimo.models.motion_tokenizer.api import MotionTokenizerInference
    from unimo.models.video_tokenizer.api import VideoTokenizerInference

    video = VideoTokenizerInference.load(cfg.video_tokenizer)
    motion = MotionTokenizerInference.load(cfg.motion_tokenizer)
    t = video.temporal_factor
    if motion.config.temporal_stride != t:
        raise UnimoError(f"the motion tokenizer's temporal_stride ({motion.config.temporal_stride}) differs from the video "
                         f"tokenizer's temporal factor ({t}): their latent frames would not line up")
    latent = timeline.latent_frames(cfg.frames, t)
    if cfg.size % video.spatial_factor:
        raise UnimoError(f"size={cfg.size} is not a multiple of the video tokenizer's spatial factor {video.spatial_factor}")
    grid = [cfg.size // video.spatial_factor] * 2
    return token_shards.TokenManifest(
        video_tokenizer={"source": token_shards.lasting_source(cfg.video_tokenizer), "codebook_size": video.codebook_size, "temporal_factor": t,
                         "spatial_factor": video.spatial_factor},
        motion_tokenizer={"source": token_shards.lasting_source(cfg.motion_tokenizer), "codebook_size": motion.config.codebook_size,
                          "expansion": motion.config.expansion, "temporal_stride": motion.config.temporal_stride},
        latent_frames=latent, motion_tokens_per_latent=motion.config.expansion, grid=grid, frames=cfg.frames, size=cfg.size,
        fps=fps)


_LAYOUT = ("frames", "size", "video_tokenizer", "motion_tokenizer", "latent_frames", "motion_tokens_per_latent", "grid")


def check_same_layout(output: str, planned: token_shards.TokenManifest) -> None:
    """A rerun adds to an output only with the same tokenizers and layout: ids of two
    vocabularies in one set of shards would be indistinguishable."""
    if not storage.exists(storage.join(output, token_shards.MANIFEST)):
        return
    existing = token_shards.TokenManifest.read(output)
    for key in _LAYOUT:
        if getattr(existing, key) != getattr(planned, key):
            raise UnimoError(f"'{output}' holds tokens made with {key}={getattr(existing, key)!r}, not {getattr(planned, key)!r}: "
                             "write them to a new output")


@dataclass
class Summary:
    run: str
    inputs_found: int
    inputs_skipped: int
    clips: int
    errors: int
    seconds: float
    output: str

    def __str__(self) -> str:
        return (f"pretokenize run {self.run}: {self.inputs_found} inputs ({self.inputs_skipped} already done), "
                f"{self.clips} windows written, {self.errors} errors, {self.seconds:.1f} s -> {self.output}")


def run_pretokenize(cfg: PretokenizeConfig) -> Summary:
    import ray

    from unimo.platform import ray_session, tracking

    start = time.perf_counter()
    source, output = storage.resolve(cfg.input), storage.resolve(cfg.output)
    found = discover(source)
    rates = {r["fps"] for r in found}
    if len(rates) > 1:
        raise UnimoError(f"'{source}' holds clips at several frame rates ({sorted(rates)}): token shards have one")
    manifest = plan_manifest(cfg, found[0]["fps"])
    manifest.code_version = tracking.git_commit()
    check_same_layout(output, manifest)
    done = prepare_resume(output, token_shards.TOKENS)
    todo = [r for r in found if input_key(r) not in done]
    if cfg.limit:
        todo = todo[: cfg.limit]
    run = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    staging = storage.join(output, token_shards.STAGING, run)
    ledger = {"clips": 0, "errors": 0}
    if todo:
        ray_session.connect()
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors = gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
        with RemoteProgress({"windows tokenized": ("window", None)}) as counts:
            ds = ray.data.from_items(todo, override_num_blocks=len(todo))
            # every actor from the start: one that joins late imports torch and loads both
            # tokenizers while the others already wait on it (measured: 2 CPUs slower than 1);
            # one batch in flight an actor: the first actor ready would otherwise queue several
            # and finish alone while the others idle
            pool = ray.data.ActorPoolStrategy(min_size=min(actors, len(todo)), max_size=actors, max_tasks_in_flight_per_actor=1)
            ds = ds.map_batches(TokenizeStage, fn_constructor_kwargs={"cfg": cfg, "staging": staging, "progress": counts.handle},
                                batch_size=cfg.batch, compute=pool, **({"num_gpus": 1} if gpus else {"num_cpus": 0.5}))
            ds.materialize()  # the actors write the shards; what comes back is a count a batch
        ledger = commit(output, staging, run, todo, manifest)
    elif not storage.exists(storage.join(output, token_shards.MANIFEST)):
        manifest.write(output)
    return Summary(run, len(found), len(found) - len(todo), ledger["clips"], ledger["errors"], time.perf_counter() - start, output)
