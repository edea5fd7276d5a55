"""jobs/train.py --stage motion_tokenizer: Ray Train on 2 workers (1 worker: test_runners.py) outliving a killed
worker and a killed driver; one-line errors for a bad data path or checkpoint; the sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import mlflow
import numpy as np
import pytest
import torch
from support import PYTHON, REPO, kill_process_tree, metric_history, ray_train_workers_of, run_job, wait_for_checkpoint

from unimo.models.motion_tokenizer.api import MotionTokenizerInference
from unimo.models.training.checkpoint import CheckpointError
from unimo.pipelines.corpus import CorpusConfig, build_corpus
from unimo.platform.errors import UnimoError

TINY = ["motion_tokenizer.model.codebook_size=32", "motion_tokenizer.model.code_dim=16",
        "motion_tokenizer.model.hidden=32", "motion_tokenizer.model.depth=1", "motion_tokenizer.data.window=32",
        "trainer.batch_size=8", "trainer.lr=0.002", "trainer.warmup_steps=2", "trainer.log_every=2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, on_ray):
    out = str(tmp_path_factory.mktemp("train_corpus"))
    build_corpus(CorpusConfig(clips=24, frames=64, size=32, seed=3), out, progress=False)  # clips 19 and 21 validate
    return out


@pytest.mark.slow
def test_a_two_worker_run_outlives_a_killed_worker_and_a_killed_driver_and_its_loss_falls(corpus, tmp_path, monkeypatch):
    """DDP on 2 workers (one worker is every other Ray-runner test's case, in test_runners.py).
    One run, since each Ray Train start costs most of a minute on two cores: a training
    worker is killed, and Ray Train replaces it and goes on from the checkpoint by itself;
    then the driver is killed with the Ray it started, and the same command resumes it."""
    home = tmp_path / "home"
    # a global batch of 16 windows: TINY's 8 on each worker
    args = [PYTHON, "jobs/train.py", "--stage", "motion_tokenizer", f"--data={corpus}", *TINY, "trainer.steps=150",
            "trainer.num_workers=2", "trainer.checkpoint_every=10", "trainer.eval_every=150", "trainer.max_failures=2",
            "trainer.run_name=killme"]
    env = {**os.environ, "UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Ray Train records a checkpoint in this snapshot once it is safely stored
    snapshot = home / "checkpoints" / "killme" / "checkpoint_manager_snapshot.json"

    def logged_steps() -> list[int]:
        return [m.step for m in (metric_history(home, "killme", "train/loss") or [[]])[0]]

    # 1. a worker dies mid-run, past a checkpoint; the driver lives on
    restored = wait_for_checkpoint(snapshot, proc)
    deadline = time.time() + 300
    while max(logged_steps(), default=0) < restored + 2:  # steps past the checkpoint are logged
        assert proc.poll() is None and time.time() < deadline, "the run ended before the worker was killed"
        time.sleep(0.2)
    workers = ray_train_workers_of(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    killed_at = max(logged_steps())

    # 2. once it has checkpointed again, the driver dies with the Ray it started
    checkpoint_step = wait_for_checkpoint(snapshot, proc, after=killed_at)
    kill_process_tree(proc.pid)
    proc.wait()
    first = metric_history(home, "killme", "train/loss")[0]
    steps = [m.step for m in first]
    replayed = [s for s in set(steps) if steps.count(s) > 1]
    # the replacement worker resumed from a checkpoint, not from zero, and logged again what it redid
    assert replayed and set(replayed) <= set(range(restored + 1, killed_at + 1)), (restored, killed_at, steps)
    assert 10 <= checkpoint_step <= max(steps) < 150

    out = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained motion_tokenizer to step 150" in out.stdout
    second = metric_history(home, "killme", "train/loss")[-1]
    # the step counter continues from the checkpoint, not from zero
    assert checkpoint_step < second[0].step <= checkpoint_step + 2 and second[-1].step == 150
    # and the loss fell: each value is rank 0's batch of 8, so compare the means of several
    # (steps 2-10 logged before the first checkpoint, against the last eight of the resumed run)
    early, late = [m.value for m in first if m.step <= 10], [m.value for m in second[-8:]]
    assert len(early) >= 3 and sum(late) / len(late) < 0.8 * sum(early) / len(early)

    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    run = client.search_runs([client.get_experiment_by_name("unimo").experiment_id], order_by=["attributes.start_time DESC"])[0]
    for key in ("val/mpjpe_mm", "val/pa_mpjpe_mm", "val/pve_mm", "val/accel_err", "val/codebook_usage", "val/perplexity"):
        assert key in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)} | {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
    assert {"config.yaml", "checkpoint", "samples/ground_truth_vs_reconstruction.mp4"} <= artifacts
    # the logged checkpoint loads by MLflow run id and round-trips shapes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home}/mlflow.db")
    tok = MotionTokenizerInference.load(f"runs:/{run.info.run_id}")
    poses, trans, betas = torch.zeros(2, 32, 72), torch.zeros(2, 32, 3), torch.zeros(2, 10)
    tokens = tok.encode(poses, trans, betas)
    assert tokens.codes.shape == (2, tok.config.tokens_for(32)) and tokens.yaw.shape == (2,)
    p, t, b = tok.decode(tokens)
    assert p.shape == (2, 32, 72) and t.shape == (2, 32, 3) and b.shape == (2, 10)


def test_a_snapshot_half_written_when_the_run_was_killed_is_a_one_line_error(corpus, tmp_path):
    home = tmp_path / "home"
    snapshot = home / "checkpoints" / "cut" / "checkpoint_manager_snapshot.json"
    snapshot.parent.mkdir(parents=True)
    snapshot.write_text('{"checkpoint_results": [{"checkpoint": {"path": "')  # Ray rewrites it in place: a kill can cut it
    out = run_job("train.py", "--stage", "motion_tokenizer", f"--data={corpus}", *TINY, "trainer.runner=ray",
                  "trainer.steps=2", "trainer.run_name=cut", env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""})
    assert out.returncode == 1
    assert out.stderr.strip() == (f"jobs/train.py: error: checkpoint snapshot '{snapshot}' is half-written (the run was killed "
                                  "while Ray saved it): delete it to restart the run from step 0, or pick a new trainer.run_name")


def test_wrong_data_path_and_missing_checkpoint_are_one_line_errors(tmp_path):
    out = run_job("train.py", "--stage", "motion_tokenizer", f"--data={tmp_path / 'nowhere'}", timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip() == (f"jobs/train.py: error: data path '{tmp_path / 'nowhere'}' holds neither preprocessed shards "
                                  "(manifest.json), a corpus (corpus.json) nor token shards (tokens/)")
    with pytest.raises(CheckpointError, match="not found"):
        MotionTokenizerInference.load(str(tmp_path / "no_checkpoint"))


@pytest.mark.slow
def test_sweep_stops_trials_early_nests_runs_and_registers_the_champion(corpus, tmp_path, monkeypatch):
    from unimo.pipelines.registry_data import RegistryDataError, bvhtools_mocap

    try:
        bvhtools_mocap()  # the held-out mocap the sweep evaluates on
    except RegistryDataError as e:
        pytest.skip(str(e))
    home = tmp_path / "home"
    # lr=0 trials never leave their initial weights: ASHA has something to stop whatever the
    # other trials' numbers turn out to be (configs/sweep_cpu_tiny.yaml is the real sweep)
    # data given relative to where the user stands: trials run in directories of their own
    out = run_job("sweep.py", f"train.data={os.path.relpath(corpus, REPO)}", "train.debug=true", "window=32", "grace_steps=10",
                  "space={motion_tokenizer.model.codebook_size: [32], trainer.lr: [0.002, 0.0]}",
                  env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {r[0].strip(): [c.strip() for c in r[1:]] for r in
            (line.split("|")[1:-1] for line in out.stdout.splitlines() if line.startswith("| codebook_size="))}
    names = [f"codebook_size=32,lr={lr}-seed0" for lr in (0.002, 0.0)]
    assert set(names) <= set(rows)  # the trials' table (the held-out table's rows have no -seed0)

    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("unimo").experiment_id])
    parent = [r for r in runs if r.info.run_name.startswith("sweep-") and "mlflow.parentRunId" not in r.data.tags]
    assert len(parent) == 1
    children = {r.data.tags["unimo.sweep.trial"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id}
    assert sorted(children) == sorted(names)
    assert all(c.data.metrics.get("val/mpjpe_mm", 0) > 0 for c in children.values())  # validation ran
    # ASHA's rule, replayed from MLflow: with one trial at a time, in order, a trial goes on past
    # step 10 only if its val/mpjpe_mm there is no worse than the median of those before it
    seen, stopped = [], []
    for name in names:
        at_10 = [m.value for m in client.get_metric_history(children[name].info.run_id, "val/mpjpe_mm") if m.step == 10][0]
        expect_stop = bool(seen) and at_10 > float(np.percentile(seen, 50))
        seen.append(at_10)
        status = rows[name][0]
        assert status == ("stopped early at step 10" if expect_stop else "finished"), (name, status, seen)
        assert children[name].info.status == ("KILLED" if expect_stop else "FINISHED")
        stopped += [name] if expect_stop else []
    assert stopped, "no trial was stopped early"
    # the best finished trial is the champion, and every job loads it by its registry name
    finished = {n: children[n].data.metrics["val/mpjpe_mm"] for n in names if n not in stopped}
    best = min(finished, key=finished.get)
    champion = client.get_model_version_by_alias("unimo-motion_tokenizer", "champion")
    assert champion.run_id == children[best].info.run_id
    assert "sweep.md" in [a.path for a in client.list_artifacts(parent[0].info.run_id)]
    monkeypatch.setenv("UNIMO_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tok = MotionTokenizerInference.load("models:/unimo-motion_tokenizer@champion")
    assert tok.model.cfg.codebook_size == 32 and children[best].data.params["trainer.lr"] == "0.002"
    with pytest.raises(UnimoError, match="not in the registry"):
        MotionTokenizerInference.load("models:/unimo-motion_tokenizer@nobody")
