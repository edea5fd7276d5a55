"""The two runners share one loop: the same batches and seed give the same losses; a local
run resumes where it stopped, without Ray. (A killed Ray Train worker replaced by itself:
tests/jobs/test_train.py.)"""

from __future__ import annotations

import json

import pytest
from support import metric_history, run_job, run_job_without

from unimo.pipelines.corpus import CorpusConfig, build_corpus

TINY = ["motion_tokenizer.model.codebook_size=32", "motion_tokenizer.model.code_dim=16", "motion_tokenizer.model.hidden=32",
        "motion_tokenizer.model.depth=1", "motion_tokenizer.data.window=32", "motion_tokenizer.data.val_windows=16",
        "trainer.batch_size=8", "trainer.lr=0.002", "trainer.warmup_steps=2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runner_corpus"))
    build_corpus(CorpusConfig(clips=16, frames=64, seed=4, videos=False), out, progress=False, use_ray=False)
    return out


@pytest.mark.slow
def test_both_runners_draw_the_same_batches_and_give_the_same_losses(corpus, tmp_path):
    home = tmp_path / "home"
    losses = {}
    for runner in ("local", "ray"):
        out = run_job("train.py", f"--data={corpus}", *TINY, f"trainer.runner={runner}", "trainer.steps=8",
                      "trainer.log_every=1", "trainer.eval_every=8", "trainer.checkpoint_every=8", "trainer.seed=7",
                      f"trainer.run_name=same-{runner}", env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""})
        assert out.returncode == 0, out.stderr[-3000:]
        (hist,) = metric_history(home, f"same-{runner}", "train/loss")
        losses[runner] = [(m.step, m.value) for m in hist]
    assert [s for s, _ in losses["local"]] == [s for s, _ in losses["ray"]] == list(range(1, 9))
    for (_, a), (_, b) in zip(losses["local"], losses["ray"]):
        assert abs(a - b) <= 1e-4, (losses["local"], losses["ray"])
    assert len({round(v, 4) for _, v in losses["local"]}) > 1  # the steps differ: not one value compared 8 times


@pytest.mark.slow
def test_a_local_run_imports_no_ray_and_resumes_its_step_counter(corpus, tmp_path):
    home = tmp_path / "home"
    env = {"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}
    common = [f"--data={corpus}", *TINY, "trainer.runner=local", "trainer.log_every=1", "trainer.eval_every=100",
              "trainer.checkpoint_every=5", "trainer.keep_checkpoints=2", "trainer.run_name=resume-local"]
    first = run_job_without(["ray"], "train.py", *common, "trainer.steps=10", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "trained motion_tokenizer to step 10" in first.stdout
    run_dir = home / "checkpoints" / "resume-local"
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint_00000005", "checkpoint_00000010"]

    second = run_job_without(["ray"], "train.py", *common, "trainer.steps=15", env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "trained motion_tokenizer to step 15" in second.stdout
    before, after = metric_history(home, "resume-local", "train/loss")
    assert [m.step for m in before] == list(range(1, 11))
    assert [m.step for m in after] == list(range(11, 16))  # continues from the checkpoint, not from zero
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint_00000010", "checkpoint_00000015"]


@pytest.mark.slow
def test_gpu_check_runs_tiny_on_the_cpu_without_ray_mlflow_or_pyav(tmp_path):
    out = run_job_without(["ray", "mlflow", "av"], "benchmarks/gpu_check.py", "--tiny", f"--out={tmp_path / 'report'}",
                          env={"UNIMO_HOME": str(tmp_path / "home")}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "gpu_check.json").read_text())
    assert report["steps"] == 20 and report["steps_per_s"] > 0 and report["flops_per_step"] > 0
    assert 0 < report["held_out"]["procedural"]["mpjpe_mm"] < 5000
    assert 0 < report["held_out"]["procedural"]["codebook_usage"] <= 1
    assert "| procedural, unseen seeds |" in (tmp_path / "report" / "gpu_check.md").read_text()


@pytest.mark.slow
def test_gpu_check_of_the_video_tokenizer_renders_its_clips_without_pyav(tmp_path):
    out = run_job_without(["ray", "mlflow", "av"], "benchmarks/gpu_check.py", "--stage", "video_tokenizer", "--tiny", "--workers", "2",
                          f"--out={tmp_path / 'report'}", env={"UNIMO_HOME": str(tmp_path / "home")}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report" / "gpu_check.json").read_text())
    assert report["stage"] == "video_tokenizer" and report["steps"] == 20 and report["flops_per_step"] > 0
    rendered = report["held_out"]["rendered"]
    assert rendered["clips"] == 28 and 5 < rendered["psnr"] < 60 and 0 < rendered["codebook_usage"] <= 1  # 4 videos of 68 frames: 7 clips each
    assert report["val"]["val/psnr"] > 0
    assert "| rendered clips, seed 1000 (no H.264) | 28 |" in (tmp_path / "report" / "gpu_check.md").read_text()
