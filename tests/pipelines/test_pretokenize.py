"""Pre-tokenization: token shards that decode to what the tokenizers reconstruct, a manifest
that matches them, errors beside good rows, resume without duplicates, one-line errors."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from support import run_job

from unimo.models import motion_features as mf
from unimo.models.motion_tokenizer.api import MotionTokenizerInference
from unimo.models.motion_tokenizer.model import MotionTokenizer, MotionTokenizerConfig
from unimo.models.motion_tokenizer.stage import MotionTokenizerStageConfig
from unimo.models.training import checkpoint
from unimo.models.video_tokenizer.api import VideoTokenizerInference
from unimo.models.video_tokenizer.model import VideoTokenizerConfig
from unimo.models.video_tokenizer.stage import VideoTokenizerStageConfig, VideoTokenizerTraining
from unimo.pipelines import corpus_format, token_shards
from unimo.pipelines.corpus import CorpusConfig, build_corpus
from unimo.platform.config import to_dict


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenizers")
    torch.manual_seed(0)
    video_cfg = VideoTokenizerStageConfig(model=VideoTokenizerConfig(hidden=16, depth=1, levels=[5, 5, 5]))
    checkpoint.save(str(root / "video"), model=VideoTokenizerTraining(video_cfg), optimizer=None, step=1,
                    config={"stage": "video_tokenizer", "stage_config": to_dict(video_cfg)})
    motion_model = MotionTokenizerConfig(codebook_size=32, code_dim=8, hidden=16, depth=1, temporal_stride=4, expansion=2)
    motion_cfg = MotionTokenizerStageConfig(model=motion_model, feature_mean=[0.0] * mf.FEATURE_DIM, feature_std=[1.0] * mf.FEATURE_DIM)
    model = MotionTokenizer(motion_model)
    model.quantizer.initialised.fill_(True)
    checkpoint.save(str(root / "motion"), model=model, optimizer=None, step=1,
                    config={"stage": "motion_tokenizer", "stage_config": to_dict(motion_cfg)})
    return str(root / "video"), str(root / "motion")


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
