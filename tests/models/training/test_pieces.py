"""The training pieces on their own: safe checkpoints, precision, batches, the stage
registry, and the two readers of one example source."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimo.models.motion_tokenizer.data import motion_arrays, motion_datasets
from unimo.models.motion_tokenizer.model import MotionTokenizerConfig
from unimo.models.motion_tokenizer.stage import MotionTokenizerStage, MotionTokenizerStageConfig
from unimo.models.training import checkpoint, stages
from unimo.models.training.accelerator import Accelerator, DeviceError, pick_device
from unimo.models.training.batches import InMemoryBatches
from unimo.models.training.data import stack
from unimo.pipelines.corpus import CorpusConfig, build_corpus
from unimo.platform.errors import ConfigError


class _Payload:
    def __reduce__(self):  # what a malicious checkpoint does: run a function on load
        return (print, ("this ran on load",))


def test_a_checkpoint_of_tensors_and_plain_data_round_trips(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    checkpoint.save(str(tmp_path), model=model, optimizer=opt, step=7, config={"stage": "x", "lr": 1e-3, "dims": [1, 2]},
                    extra={"epoch": 2})
    state = checkpoint.load(str(tmp_path))
    assert state["step"] == 7 and state["epoch"] == 2 and state["config"]["dims"] == [1, 2]
    torch.testing.assert_close(state["model"]["weight"], model.weight.detach())


def test_a_checkpoint_on_remote_storage_is_fetched_and_a_missing_one_named(tmp_path):
    from unimo.platform import storage

    model = torch.nn.Linear(2, 2)
    checkpoint.save(str(tmp_path), model=model, optimizer=None, step=3, config={"stage": "x"})
    url = "memory://unimo-test-checkpoints/run/checkpoint_3"
    storage.write_bytes(storage.join(url, checkpoint.FILENAME), (tmp_path / checkpoint.FILENAME).read_bytes())
    for source in (url, storage.join(url, checkpoint.FILENAME)):
        state = checkpoint.load(checkpoint.fetch(source))
        assert state["step"] == 3 and torch.equal(state["model"]["weight"], model.weight.detach())
    with pytest.raises(checkpoint.CheckpointError, match="'memory://unimo-test-checkpoints/nothing' not found"):
        checkpoint.fetch("memory://unimo-test-checkpoints/nothing")


def test_a_checkpoint_that_needs_pickle_is_refused_in_one_line(tmp_path, capsys):
    torch.save({"format_version": checkpoint.FORMAT_VERSION, "config": _Payload()}, tmp_path / "state.pt")
    with pytest.raises(checkpoint.CheckpointError, match="needs pickle to load.*print.*refuses") as err:
        checkpoint.load(str(tmp_path))
    assert "\n" not in str(err.value)
    assert "this ran on load" not in capsys.readouterr().out
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="junk.pt"):
        checkpoint.load(str(tmp_path / "junk.pt"))


def test_precision_is_fp32_on_the_cpu_unless_asked_and_no_gpu_is_a_one_line_error():
    cpu = torch.device("cpu")
    assert Accelerator(cpu).dtype == torch.float32 and Accelerator(cpu, "bf16").dtype == torch.bfloat16
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="trainer.use_gpu=true"):
            pick_device(True)


def _tiny_stage():
    return MotionTokenizerStage(MotionTokenizerStageConfig(model=MotionTokenizerConfig(codebook_size=16, code_dim=8, hidden=16, depth=1)))


def test_bf16_autocast_runs_the_network_in_bf16_and_the_codes_and_losses_in_fp32():
    stage, acc = _tiny_stage(), Accelerator(torch.device("cpu"), "bf16")
    model = stage.build_model()
    seen = {}
    model.encoder.register_forward_hook(lambda m, i, o: seen.__setitem__("encoder", o.dtype))
    batch = {"poses": torch.randn(2, 16, 72) * 0.1, "trans": torch.randn(2, 16, 3), "betas": torch.zeros(2, 10)}
    with acc.autocast():
        loss, terms = stage.loss(model, batch)
    assert seen["encoder"] == torch.bfloat16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert model.quantizer.codebook.dtype == torch.float32
    loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_in_memory_batches_depend_only_on_seed_rank_and_epoch():
    arrays = {"x": np.arange(40)}
    a, b = InMemoryBatches(arrays, seed=3), InMemoryBatches(arrays, seed=3)
    first = [t["x"].tolist() for t in a.epoch(8, 0)]
    assert first == [t["x"].tolist() for t in b.epoch(8, 0)]
    assert first != [t["x"].tolist() for t in a.epoch(8, 1)]
    assert sorted(sum(first, [])) == list(range(40))  # a permutation, in full batches
    assert [t["x"].tolist() for t in InMemoryBatches(arrays, seed=3, rank=1).epoch(8, 0)] != first


def test_an_unknown_stage_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="unknown stage 'video' \\(known: motion_tokenizer"):
        stages.get("video")


def test_ray_data_and_the_plain_reader_give_the_same_windows_in_the_same_order(tmp_path, on_ray):
    root = str(tmp_path / "corpus")
    build_corpus(CorpusConfig(clips=6, frames=64, seed=9, videos=False), root, progress=False, use_ray=False)
    train, val = motion_datasets(root, window=32, val_fraction=0.3)
    plain_train, plain_val = motion_arrays(root, window=32, val_fraction=0.3)
    for ds, plain in ((train, plain_train), (val, plain_val)):
        rows = stack(ds.take_all())
        assert rows.keys() == plain.keys() and len(rows["poses"]) > 0
        for key in rows:
            np.testing.assert_array_equal(rows[key], plain[key])
