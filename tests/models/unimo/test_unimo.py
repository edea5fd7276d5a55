"""The UniMo transformer: layouts, the KV cache, constrained decoding, training on token
shards with both embedding modes, and one-line errors."""

from __future__ import annotations

import re

import pytest
import torch
from support import write_token_shards

from unimo.models.training.checkpoint import CheckpointError
from unimo.models.unimo.api import UniMoInference
from unimo.models.unimo.layout import PREFIX, Layouts, TokenGrid
from unimo.models.unimo.model import UniMo, UniMoConfig
from unimo.models.unimo.sampling import SamplingConfig, generate
from unimo.models.unimo.stage import UniMoStage, UniMoStageConfig
from unimo.models.unimo.vocabulary import TASKS, Kind, UnknownTaskError, Vocabulary
from unimo.pipelines.token_shards import TokenShardError

GRID = TokenGrid(latent_frames=3, height=2, width=2, motion_per_latent=2)
VOCAB = Vocabulary(video_codes=16, motion_codes=8)


def tiny_model(embeddings: str = "own", seed: int = 0, video_embedding: str = "learned") -> UniMo:
    torch.manual_seed(seed)
    return UniMo(UniMoConfig(n_layer=2, n_head=2, n_embd=32, embeddings=embeddings, video_codes=VOCAB.video_codes,
                             motion_codes=VOCAB.motion_codes, max_seq_len=GRID.sequence_length, video_embedding=video_embedding,
                             fsq_levels=[4, 4] if video_embedding == "fsq" else [])).eval()


def random_clips(batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, VOCAB.video_codes, (batch, 3, 2, 2), generator=g),
            torch.randint(0, VOCAB.motion_codes, (batch, 3, 2), generator=g))


@pytest.mark.parametrize("v2m", ["appended", "interleaved"])
def test_layouts_round_trip_and_say_what_each_position_holds(v2m):
    layouts = Layouts(GRID, VOCAB, v2m)
    video, motion = random_clips(5)
    for i, task in enumerate(TASKS):
        ids = layouts.sequences(video, motion, torch.full((5,), i))
        assert ids.shape == (5, GRID.sequence_length) == (5, 2 + 3 * (4 + 2))
        back_video, back_motion = layouts.split(ids, task)
        assert torch.equal(back_video, video) and torch.equal(back_motion, motion)
        assert (ids[:, 0] == VOCAB.BOS).all() and (ids[:, 1] == VOCAB.task_id(task)).all()
        layout = layouts.tasks[task]
        assert torch.equal(VOCAB.kind_of(ids[:, PREFIX:]), torch.as_tensor(layout.kinds[PREFIX:]).expand(5, -1))
        given_kinds = layout.kinds[~layout.generated][PREFIX:]
        generated_kinds = layout.kinds[layout.generated]
        if task == "i2vm":  # the image (V_0: h*w tokens) is given, then M_0 V_1 M_1 ...
            assert layout.prefix_given == PREFIX + 4 and (given_kinds == Kind.VIDEO).all()
            assert list(layout.kinds[PREFIX + 4 : PREFIX + 4 + 2 + 4]) == [Kind.MOTION] * 2 + [Kind.VIDEO] * 4
        elif task == "v2m":
            assert (given_kinds == Kind.VIDEO).all() and (generated_kinds == Kind.MOTION).all()
            assert layout.generated.sum() == GRID.motion_tokens
        else:
            assert (given_kinds == Kind.MOTION).all() and (generated_kinds == Kind.VIDEO).all()


def test_interleaved_v2m_puts_each_latent_frames_motion_after_its_video():
    layout = Layouts(GRID, VOCAB, "interleaved").tasks["v2m"]
    assert list(layout.kinds[PREFIX:]) == ([Kind.VIDEO] * 4 + [Kind.MOTION] * 2) * 3
    assert list(layout.generated[PREFIX:]) == ([False] * 4 + [True] * 2) * 3


@pytest.mark.parametrize("embeddings,video_embedding", [("own", "learned"), ("shared", "learned"), ("own", "fsq")])
def test_kv_cache_logits_equal_the_full_forward(embeddings, video_embedding):
    model = tiny_model(embeddings, video_embedding=video_embedding)
    layouts = Layouts(GRID, VOCAB)
    video, motion = random_clips(3)
    ids = layouts.sequences(video, motion, torch.tensor([0, 1, 2]))
    full = model(ids)
    model.setup_cache(3, ids.shape[1])
    pieces = [model(ids[:, :7], input_pos=torch.arange(7)), model(ids[:, 7:10], input_pos=torch.arange(7, 10))]
    pieces += [model(ids[:, p : p + 1], input_pos=torch.tensor([p])) for p in range(10, ids.shape[1])]
    model.clear_cache()
    assert (torch.cat(pieces, 1) - full).abs().max() < 1e-4


@pytest.mark.parametrize("v2m", ["appended", "interleaved"])
def test_constrained_decoding_never_emits_a_token_of_the_wrong_modality(v2m):
    # the shared head is unmasked: only the constraint keeps modalities apart, at a high temperature
    model, layouts = tiny_model("shared", seed=3), Layouts(GRID, VOCAB, v2m)
    video, motion = random_clips(64, seed=1)
    for task in TASKS:
        for sampling in (SamplingConfig(temperature=3.0, seed=1), SamplingConfig(temperature=1.5, top_k=5, top_p=0.9, guidance=3.0)):
            ids = generate(model, layouts, task, video, motion, sampling)
            layout = layouts.tasks[task]
            assert torch.equal(VOCAB.kind_of(ids[:, PREFIX:]), torch.as_tensor(layout.kinds[PREFIX:]).expand(64, -1))
            given = torch.as_tensor(~layout.generated)
            assert torch.equal(ids[:, given], layouts.sequences(video, motion, torch.full((64,), TASKS.index(task)))[:, given])
    # and the samples vary: the constraint does not collapse them
    assert ids[:, torch.as_tensor(layouts.tasks["m2v"].generated)].unique().numel() > 8


@pytest.mark.parametrize("embeddings", ["own", "shared"])
def test_fsq_video_embedding_places_each_code_at_its_grid_point(embeddings):
    model = tiny_model(embeddings, video_embedding="fsq")
    start, end = VOCAB.ranges()[Kind.VIDEO]
    with torch.no_grad():
        (model.embed["video"].weight if embeddings == "own" else model.embed["joint"].weight[start:end]).zero_()
        video = model.embedding_table()[start:end]
    # without the learned rows, the 16 codes of a 4 x 4 grid embed as a linear map of their 2D grid points
    assert torch.linalg.matrix_rank(video, atol=1e-6) == 2
    grid = model.video_grid  # (16, 2): code c = c0 + 4 c1, each level c_i at (c_i - 2) / 2
    assert torch.allclose(grid[6], torch.tensor([0.0, -0.5])) and torch.allclose(video[6], model.video_grid_map(grid[6]))
    with pytest.raises(ValueError, match=r"^video_embedding=fsq: FSQ levels \[4, 5\] name 20 codes, and the video vocabulary has 16$"):
        UniMo(UniMoConfig(video_codes=16, motion_codes=8, max_seq_len=8, video_embedding="fsq", fsq_levels=[4, 5]))


def test_sampling_with_and_without_the_cache_agrees():
    model, layouts = tiny_model(), Layouts(GRID, VOCAB, "interleaved")
    video, motion = random_clips(4)
    for task in TASKS:
        with_cache = generate(model, layouts, task, video, motion, SamplingConfig(temperature=0.0))
        without = generate(model, layouts, task, video, motion, SamplingConfig(temperature=0.0), use_cache=False)
        assert torch.equal(with_cache, without)


def test_a_tiny_model_overfits_one_batch():
    cfg = UniMoStageConfig(model=UniMoConfig(n_layer=2, n_head=2, n_embd=64, video_codes=16, motion_codes=8,
                                             max_seq_len=GRID.sequence_length), condition_dropout=0.0)
    cfg.tokens.latent_frames, cfg.tokens.grid, cfg.tokens.motion_per_latent = 3, [2, 2], 2
    stage = UniMoStage(cfg)
    torch.manual_seed(0)
    model = stage.build_model()
    video, motion = random_clips(8)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(300):
        loss, _ = stage.loss(model, {"video_tokens": video, "motion_tokens": motion})
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():  # the trained model's loss: the last step's own loss can sit on one of Adam's spikes near zero
        trained, _ = stage.loss(model, {"video_tokens": video, "motion_tokens": motion})
    scores = stage.validate(model, [{"video_tokens": video, "motion_tokens": motion}])
    assert float(trained) < 0.05 * first
    assert all(scores[f"{t}_accuracy"] > 0.95 for t in ("v2m", "i2vm")), scores  # m2v's V_0 is not given by the motion


def test_unknown_task_and_bad_weights_are_one_line_errors():
    with pytest.raises(UnknownTaskError, match=r"^unknown task 't2m' \(known: i2vm, v2m, m2v\)$"):
        generate(tiny_model(), Layouts(GRID, VOCAB), "t2m", *random_clips(1))
    with pytest.raises(UnknownTaskError, match="unknown task 'x2y'"):
        VOCAB.task_id("x2y")


# -- training on token shards, through the job ---------------------------------------------


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return write_token_shards(tmp_path_factory.mktemp("tokens"))


TINY = ["--stage", "unimo", "unimo.model.n_layer=2", "unimo.model.n_head=2", "unimo.model.n_embd=64", "trainer.batch_size=16",
        "trainer.lr=0.003", "trainer.warmup_steps=5", "trainer.log_every=10", "unimo.val_fraction=0.25"]


@pytest.mark.parametrize("embeddings,runner", [("own", "local"), ("shared", "local"), ("own", "ray")])
def test_training_on_token_shards_lowers_every_tasks_validation_loss(tokens, tmp_path, embeddings, runner):
    from support import metric_history, run_job

    home = tmp_path / "home"
    steps = 120 if runner == "local" else 40
    out = run_job("train.py", f"--data={tokens}", *TINY, f"unimo.model.embeddings={embeddings}", f"trainer.runner={runner}",
                  f"trainer.steps={steps}", f"trainer.eval_every={steps // 6}", f"trainer.checkpoint_every={steps}",
                  "trainer.run_name=ar", env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    for task in TASKS:
        (history,) = metric_history(home, "ar", f"val/{task}_loss")
        first, last = history[0].value, history[-1].value
        assert last < first, (task, [m.value for m in history])
    (v2m,) = metric_history(home, "ar", "val/v2m_perplexity")
    assert v2m[-1].value < 0.5 * VOCAB.motion_codes  # far better than a uniform guess over the motion codes

    # the checkpoint loads for sampling, refuses token shards of another tokenizer, and is not a motion tokenizer
    (checkpoint,) = list((home / "checkpoints" / "ar").rglob("state.pt"))
    model = UniMoInference.load(str(checkpoint))
    model.check_tokens(tokens)
    video, motion = model.generate("v2m", video=torch.zeros(2, 3, 2, 2, dtype=torch.long))
    assert motion.shape == (2, 3, 2) and torch.equal(video, torch.zeros(2, 3, 2, 2, dtype=torch.long))
    if runner == "local" and embeddings == "own":
        out = run_job("evaluate.py", "--stage", "unimo", f"--checkpoint={checkpoint}", f"tokens={tokens}",
                      env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        rows = {line.split("|")[1].strip(): line.split("|") for line in out.stdout.splitlines() if line.startswith("| V2M")}
        factor = float(rows["V2M"][6].strip().rstrip("x"))
        assert factor > 1.5, out.stdout  # the motion follows from the video: context beats code frequencies
        (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("V2M perplexity with another clip's video")]
        other_video, own_video = (float(x) for x in re.findall(r"(\d+\.\d+)", line))
        assert other_video > 1.5 * own_video, line  # it reads the video: another clip's misleads it
        other = write_token_shards(tmp_path / "other", sources=4, video_tokenizer="another-video-tokenizer")
        with pytest.raises(TokenShardError, match=r"^token shards '.*other' do not match the model: their video tokenizer is "
                                                  r"'another-video-tokenizer', the model was trained on 'synthetic-video'"):
            model.check_tokens(other)
        from unimo.models.video_tokenizer.api import VideoTokenizerInference

        with pytest.raises(CheckpointError, match="is a unimo checkpoint, not a video tokenizer"):
            VideoTokenizerInference.load(str(checkpoint))


def test_wrong_data_and_checkpoint_are_one_line_errors(tokens, tmp_path):
    from support import run_job

    from unimo.pipelines.corpus import CorpusConfig, build_corpus

    corpus = str(tmp_path / "corpus")
    build_corpus(CorpusConfig(clips=2, frames=16, seed=0, videos=False), corpus, progress=False, use_ray=False)
    out = run_job("train.py", f"--data={corpus}", "--stage", "unimo", "--debug", "trainer.runner=local", timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"jobs/train.py: error: data path '{corpus}' holds corpus, which this stage does not read "
                                  "(it reads token shards)")
    out = run_job("train.py", f"--data={tokens}", "--stage", "motion_tokenizer", "--debug", "trainer.runner=local", timeout=300)
    assert out.returncode == 1 and "holds token shards, which this stage does not read" in out.stderr.strip().splitlines()[-1]
    with pytest.raises(CheckpointError, match="not found"):
        UniMoInference.load(str(tmp_path / "no_checkpoint"))


def test_token_sources_match_however_a_tokenizer_path_is_spelled(tmp_path, monkeypatch):
    from unimo.models.unimo.data import TokenSource

    (tmp_path / "vt").mkdir()
    monkeypatch.chdir(tmp_path)
    relative, absolute = TokenSource(video_tokenizer="vt"), TokenSource(video_tokenizer=str(tmp_path / "vt"))
    relative.check_matches(absolute, "shards")  # the same checkpoint: no error
    with pytest.raises(TokenShardError, match="their video tokenizer is 'other'"):
        relative.check_matches(TokenSource(video_tokenizer="other"), "shards")
