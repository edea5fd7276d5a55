"""The direct-regression baseline (frames -> SMPL): it learns, trains as a stage on the
windows of token shards written from a corpus, and refuses token shards it cannot read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support import run_job, write_token_shards

from unimo.models.training.data import DataError
from unimo.models.v2m_baseline.model import RegressorConfig
from unimo.models.v2m_baseline.stage import V2MBaselineStage, V2MBaselineStageConfig, labelled_windows
from unimo.pipelines.corpus import CorpusConfig, build_corpus


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    root = tmp_path_factory.mktemp("baseline")
    build_corpus(CorpusConfig(clips=8, frames=18, size=32, seed=4), str(root / "corpus"), progress=False, use_ray=False)
    return write_token_shards(root / "tokens", sources=8, windows=2, latent=3, grid=(4, 4), size=32, corpus=str(root / "corpus"))


def test_windows_are_the_corpus_frames_and_labels_split_by_source_as_unimo_splits(tokens):
    from unimo.models.unimo.data import load_split

    manifest, train, val = labelled_windows(tokens, 0.25)
    assert train["video"].shape[1:] == (9, 32, 32, 3) and train["poses"].shape[1:] == (9, 72)
    _, unimo_train, unimo_val = load_split(tokens, 0.25)
    assert len(train["video"]) == len(unimo_train["video_tokens"]) and len(val["video"]) == len(unimo_val["video_tokens"])
    assert train["video"].std() > 10  # rendered frames, not blanks


@pytest.mark.parametrize("source,embedding", [("frames", "learned"), ("video_tokens", "learned"), ("video_tokens", "fsq")])
def test_the_regressor_fits_a_batch(tokens, source, embedding):
    _, train, _ = labelled_windows(tokens, 0.25, frames=source == "frames")
    model_cfg = RegressorConfig(input=source, code_embedding=embedding, channels=8, width=64, temporal_blocks=1, code_dim=16)
    stage = V2MBaselineStage(V2MBaselineStageConfig(model=model_cfg, size=32, frames=9, video_codes=16, grid=[4, 4], temporal_factor=4,
                                                    fsq_levels=[4, 4]))
    torch.manual_seed(0)
    model = stage.build_model()
    batch = {k: torch.as_tensor(v[:4]) for k, v in train.items()}
    rotations, _ = model(batch["video" if source == "frames" else "video_tokens"])
    assert rotations.shape == (4, 9, 24, 6)  # a frame each: 3 latent frames of the tokens are 1 + 2 x 4 frames
    if embedding == "fsq":  # code 5 of levels [4, 4] is digits (1, 1): the grid point (-0.5, -0.5), and stays it
        assert model.embed.weight[5].tolist() == [-0.5, -0.5] and not model.embed.weight.requires_grad
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = stage.validate(model, [batch])["mpjpe_mm"]
    for _ in range(60):
        loss, _ = stage.loss(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert stage.validate(model, [batch])["mpjpe_mm"] < 0.5 * first


def test_train_job_writes_a_checkpoint_the_inference_api_loads(tokens, tmp_path):
    from unimo.models.v2m_baseline.api import RegressorInference

    env = {"UNIMO_HOME": str(tmp_path / "home"), "MLFLOW_TRACKING_URI": ""}
    out = run_job("train.py", "--stage", "v2m_baseline", "--debug", f"--data={tokens}", "trainer.runner=local", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    checkpoint = next((tmp_path / "home" / "checkpoints").glob("*/checkpoint_*"))
    model = RegressorInference.load(str(checkpoint))
    rows = model.predict(np.zeros((2, 9, 32, 32, 3), np.uint8))
    assert rows[0]["poses"].shape == (9, 72) and rows[0]["betas"].shape == (10,)

    # the token probe trains on the same windows' video tokens and predicts from them alone
    out = run_job("train.py", "--stage", "v2m_baseline", "--debug", f"--data={tokens}", "trainer.runner=local",
                  "v2m_baseline.model.input=video_tokens", "trainer.run_name=probe", env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    probe = RegressorInference.load(str(next((tmp_path / "home" / "checkpoints" / "probe").glob("checkpoint_*"))))
    rows = probe.predict(None, video_tokens=np.zeros((2, 3 * 4 * 4), np.int64))
    assert rows[0]["poses"].shape == (9, 72) and probe.reads == "UniMo's video tokens"
    with pytest.raises(ValueError, match="reads UniMo's video tokens: pass them"):
        probe.predict(np.zeros((2, 9, 32, 32, 3), np.uint8))


def test_token_shards_without_labelled_sources_are_refused_in_one_line(tmp_path):
    fake = write_token_shards(tmp_path / "fake", sources=4)
    with pytest.raises(DataError, match="no window of a corpus video with labels"):
        labelled_windows(fake, 0.1)
