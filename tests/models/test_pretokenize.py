"""Pre-tokenization: token shards that decode to what the tokenizers reconstruct, a manifest
that matches them, errors beside good rows, resume without duplicates, one-line errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from support import run_job

from unimo.models.motion_tokenizer.api import MotionTokenizerInference
from unimo.models.motion_tokenizer.model import MotionTokenizer, MotionTokenizerConfig
from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig
from unimo.models.training import checkpoint
from unimo.models.video_tokenizer.api import VideoTokenizerInference
from unimo.models.video_tokenizer.model import VideoTokenizerConfig
from unimo.models.video_tokenizer.stage import VideoTokenizerStageConfig, VideoTokenizerTraining
from unimo.pipelines import corpus_format, shards, token_shards
from unimo.pipelines.corpus import CorpusConfig, build_corpus
from unimo.platform import motion_features as mf
from unimo.platform.config import to_dict

MOTION_MODEL = MotionTokenizerConfig(codebook_size=32, code_dim=8, hidden=16, depth=1, temporal_stride=4, expansion=2)


def save_motion_tokenizer(path: str, model: MotionTokenizer) -> str:
    stage = MotionTokenizerStageConfig(model=MOTION_MODEL, feature_mean=[0.0] * mf.FEATURE_DIM, feature_std=[1.0] * mf.FEATURE_DIM)
    checkpoint.save(path, model=model, optimizer=None, step=1, config={"stage": "motion_tokenizer", "stage_config": to_dict(stage)})
    return path


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenizers")
    torch.manual_seed(0)
    video_cfg = VideoTokenizerStageConfig(model=VideoTokenizerConfig(hidden=16, depth=1, levels=[5, 5, 5]))
    checkpoint.save(str(root / "video"), model=VideoTokenizerTraining(video_cfg), optimizer=None, step=1,
                    config={"stage": "video_tokenizer", "stage_config": to_dict(video_cfg)})
    model = MotionTokenizer(MOTION_MODEL)
    model.quantizer.initialised.fill_(True)
    return str(root / "video"), save_motion_tokenizer(str(root / "motion"), model)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("pretok_corpus"))
    build_corpus(CorpusConfig(clips=4, frames=18, size=32, seed=2), out, progress=False, use_ray=False)
    ids = corpus_format.CorpusManifest.read(out).clip_ids
    with open(corpus_format.video_path(out, ids[1]), "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42 truncated")  # a corrupt video among good ones
    return out


def _args(corpus, out, tokenizers):
    return [f"--input={corpus}", f"--output={out}", f"--video_tokenizer={tokenizers[0]}", f"--motion_tokenizer={tokenizers[1]}",
            "frames=9", "size=32", "batch=2"]


@pytest.mark.slow
def test_pretokenize_writes_good_windows_and_errors_and_resumes_without_duplicates(corpus, tokenizers, tmp_path):
    out = tmp_path / "tokens"
    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    first = run_job("pretokenize.py", *_args(corpus, out, tokenizers), env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = token_shards.TokenManifest.read(str(out))
    table = pq.read_table(str(out / token_shards.TOKENS))
    errors = pq.read_table(str(out / token_shards.ERRORS)).to_pylist()
    assert table.num_rows == manifest.clips == 3 * 2  # 3 good videos of 18 frames: 2 windows of 9 each
    assert len(errors) == manifest.errors == 1 and errors[0]["source"].endswith(".mp4") and errors[0]["stage"] == "decode"
    assert manifest.latent_frames == 3 and manifest.grid == [4, 4] and manifest.motion_tokens_per_latent == 2
    assert manifest.video_tokenizer["codebook_size"] == 125 and manifest.motion_tokenizer["codebook_size"] == 32

    # ids decode to what the tokenizers themselves reconstruct from the same window
    video_tok, motion_tok = VideoTokenizerInference.load(tokenizers[0]), MotionTokenizerInference.load(tokenizers[1])
    row = sorted(table.to_pylist(), key=lambda r: r["clip_id"])[0]
    assert row["start_frame"] == 0 and row["num_frames"] == 9
    from unimo.models.video_tokenizer.data import resize_square
    from unimo.pipelines import video_io

    frames, _ = video_io.decode(open(row["source"], "rb").read())
    window = resize_square(frames, 32)[None, :9]
    ids = token_shards.video_tokens(row, manifest)
    assert ids.shape == (3, 4, 4) and np.array_equal(ids, video_tok.encode(window)[0].numpy())
    np.testing.assert_array_equal(video_tok.decode(torch.as_tensor(ids)[None]), video_tok.decode(video_tok.encode(window)))
    label = corpus_format.read_label(corpus_format.label_path(corpus, row["clip_id"].rsplit("-", 1)[0]))
    motion = motion_tok.encode(*(torch.as_tensor(label[k][:9])[None] for k in ("poses", "trans")),
                               torch.as_tensor(label["betas"])[None], video_aligned=True)
    assert token_shards.motion_tokens(row, manifest).shape == (3, 2)
    assert token_shards.motion_tokens(row, manifest).flatten().tolist() == motion.codes[0].tolist()
    np.testing.assert_allclose(row["motion_start"], label["trans"][0], atol=1e-5)

    again = run_job("pretokenize.py", *_args(corpus, out, tokenizers), env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert pq.read_table(str(out / token_shards.TOKENS)).num_rows == 6  # nothing twice
    assert "4 inputs (4 already done)" in again.stdout
    other = run_job("pretokenize.py", *_args(corpus, out, tokenizers)[:-3], "frames=5", "size=32", env=env, timeout=300)
    assert other.returncode == 1  # ids of another layout never join these shards
    assert "holds tokens made with frames=9, not 5: write them to a new output" in other.stderr


def test_a_clip_length_the_video_tokenizer_cannot_take_is_a_one_line_error(corpus, tokenizers, tmp_path):
    out = run_job("pretokenize.py", *_args(corpus, tmp_path / "t", tokenizers)[:-3], "frames=8",
                  env={"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}, timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == ["jobs/pretokenize.py: error: a clip of 8 frames cannot be tokenized at 4x in time: "
                                               "it needs 1 + a multiple of 4 frames (e.g. 5 or 9)"]


def test_the_token_loader_reads_every_row_in_its_shape_and_checks_the_manifest(tmp_path):
    import importlib.util

    from support import REPO

    from unimo.pipelines.token_loader import load_tokens

    spec = importlib.util.spec_from_file_location("bench_token_loader", REPO / "benchmarks" / "bench_token_loader.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tokens = bench.write_shards(str(tmp_path), clips=80, files=4)
    manifest, arrays = load_tokens(str(tmp_path))
    assert arrays["video_tokens"].shape == (80, 5, 8, 8) and arrays["motion_tokens"].shape == (80, 5, 2)
    assert arrays["video_tokens"].size + arrays["motion_tokens"].size == tokens
    stored = pq.read_table(str(tmp_path / token_shards.TOKENS), columns=["video_tokens"]).column(0).to_pylist()
    assert arrays["video_tokens"].dtype == np.int32
    assert sorted(arrays["video_tokens"].reshape(80, -1).tolist()) == sorted(stored)  # every row, reshaped, none altered
    manifest.clips = 81
    manifest.write(str(tmp_path))
    with pytest.raises(token_shards.TokenShardError, match="holds 80 token rows, its manifest says 81"):
        load_tokens(str(tmp_path))


# -- preprocessing shards as the input ---------------------------------------------------------

QUICK_FIT = ["fit.iterations=20", "fit.headings=1", "decode.window=16", "decode.stride=16", "decode.size=64"]


@pytest.fixture(scope="module")
def shards_input(on_ray, corpus, tmp_path_factory):
    """Preprocessing shards of the corpus (one run per module; 18-frame clips: one 16-frame
    window each), and a copy whose first row's frames_mp4 is truncated."""
    import shutil

    from unimo.pipelines.preprocess import PreprocessConfig, run_preprocess
    from unimo.platform.config import load_config

    root = tmp_path_factory.mktemp("pretok_shards")
    good, bad = root / "shards", root / "shards_one_bad"
    run_preprocess(load_config(PreprocessConfig, None, [f"input={corpus}/videos", f"output={good}", "keypoints=labels", *QUICK_FIT]))
    shutil.copytree(good, bad)
    path = min((bad / shards.CLIPS).glob("*.parquet"))
    rows = pq.read_table(path).to_pylist()
    rows[0]["frames_mp4"] = rows[0]["frames_mp4"][: len(rows[0]["frames_mp4"]) // 3]
    pq.write_table(pa.Table.from_pylist(rows, schema=shards.CLIP_SCHEMA), path)
    return good, bad, f"{rows[0]['source']}#{rows[0]['clip_id']}"


def motion_frames(shard_row: dict) -> dict[str, dict]:
    """A shard row's motion in both frames it holds: world (for learning), camera (overlays)."""
    world = shards.motion(shard_row)
    return {"world": world, "camera": {"poses": shards.array(shard_row, "poses"), "trans": shards.array(shard_row, "trans"),
                                       "betas": world["betas"]}}


def encode_window(tokenizer, motion: dict, frames: int = 9):
    return tokenizer.encode(*(torch.as_tensor(motion[k][:frames])[None] for k in ("poses", "trans")),
                            torch.as_tensor(motion["betas"])[None], video_aligned=True)


@pytest.fixture(scope="module")
def frame_telling_motion_tokenizer(shards_input, tokenizers, tmp_path_factory):
    """The motion tokenizer with, as its codes, the encoder latents of the good shard windows
    in both frames: the random codebook sends both frames to the same few codes, this one
    gives each latent its own, so tokens show which frame was tokenized."""
    tokenizer = MotionTokenizerInference.load(tokenizers[1])
    latents = []
    hook = tokenizer.model.quantizer.register_forward_hook(lambda module, args, out: latents.append(args[0][0].T))
    for row in pq.read_table(shards_input[0] / shards.CLIPS).to_pylist():
        if f"{row['source']}#{row['clip_id']}" != shards_input[2]:
            for motion in motion_frames(row).values():
                encode_window(tokenizer, motion)
    hook.remove()
    codes = torch.cat(latents)
    assert len(codes) <= MOTION_MODEL.codebook_size
    tokenizer.model.quantizer.codebook[: len(codes)] = codes
    return save_motion_tokenizer(str(tmp_path_factory.mktemp("motion_tokenizer")), tokenizer.model)


def test_pretokenize_reads_shards_in_the_world_frame_records_a_bad_row_and_resumes(shards_input, tokenizers,
                                                                                   frame_telling_motion_tokenizer, tmp_path):
    from unimo.models.pretokenize import PretokenizeConfig, run_pretokenize
    from unimo.models.video_tokenizer.data import resize_square
    from unimo.pipelines import video_io

    good, bad, bad_source = shards_input
    cfg = PretokenizeConfig(input=str(bad), output=str(tmp_path / "tokens"), video_tokenizer=tokenizers[0],
                            motion_tokenizer=frame_telling_motion_tokenizer, frames=9, size=32, batch=2)
    shard_rows = {f"{r['source']}#{r['clip_id']}": r for r in pq.read_table(good / shards.CLIPS).to_pylist()}
    assert len(shard_rows) == 3  # the corpus's 3 good videos, one window each
    first = run_pretokenize(cfg)
    assert (first.inputs_found, first.clips, first.errors) == (3, 2, 1)  # one 9-frame window per good row
    table = pq.read_table(tmp_path / "tokens" / token_shards.TOKENS).to_pylist()
    errors = pq.read_table(tmp_path / "tokens" / token_shards.ERRORS).to_pylist()
    assert [(e["source"], e["stage"]) for e in errors] == [(bad_source, "decode")]
    assert sorted(r["source"] for r in table) == sorted(set(shard_rows) - {bad_source})

    manifest = token_shards.TokenManifest.read(str(tmp_path / "tokens"))
    video_tok = VideoTokenizerInference.load(tokenizers[0])
    motion_tok = MotionTokenizerInference.load(frame_telling_motion_tokenizer)
    for row in table:
        shard_row = shard_rows[row["source"]]
        assert row["clip_id"] == f"{shard_row['clip_id']}-00000" and row["start_frame"] == 0 and row["num_frames"] == 9
        window = resize_square(video_io.decode(shard_row["frames_mp4"])[0], 32)[None, :9]
        assert np.array_equal(token_shards.video_tokens(row, manifest), video_tok.encode(window)[0].numpy())
        # motion: the gravity-aligned columns, never the camera-frame fit
        world, camera = (encode_window(motion_tok, m) for m in motion_frames(shard_row).values())
        assert row["motion_tokens"] == world.codes[0].tolist() != camera.codes[0].tolist()
        np.testing.assert_allclose(row["motion_start"], world.start[0], atol=1e-6)
        assert row["motion_yaw"] == pytest.approx(float(world.yaw[0]), abs=1e-6)

    again = run_pretokenize(cfg)
    assert (again.inputs_skipped, again.clips, again.errors) == (3, 0, 0)
    ids = pq.read_table(tmp_path / "tokens" / token_shards.TOKENS).column("clip_id").to_pylist()
    assert len(ids) == len(set(ids)) == 2  # nothing twice


def test_shards_of_an_old_schema_are_a_one_line_error(shards_input, tmp_path):
    import json
    import shutil

    from unimo.models.pretokenize import discover
    from unimo.platform.errors import UnimoError

    old = tmp_path / "old"
    shutil.copytree(shards_input[0], old)
    manifest = json.loads((old / shards.MANIFEST).read_text())
    (old / shards.MANIFEST).write_text(json.dumps({**manifest, "schema_version": 1}))
    with pytest.raises(UnimoError, match=f"^'{old}' has shard schema 1, this code reads {shards.SCHEMA_VERSION}$"):
        discover(str(old))
