"""`make demo` end to end: corpus -> preprocess -> train both tokenizers -> pretokenize -> train UniMo
-> mocap and generate, every run in MLflow under one parent."""

import mlflow
import pytest
from support import run_job

from unimo.pipelines import corpus_format, shards, token_shards


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_tracked(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # 6 clips: clip_000005's window is the one the hash split holds out for validation
    out = run_job("demo.py", "corpus.clips=6", "corpus.frames=32", "corpus.size=64", "fit.iterations=20",
                  "trainer.steps=10", "trainer.batch_size=2", "trainer.checkpoint_every=10", "trainer.eval_every=10", "trainer.log_every=5",
                  env={"UNIMO_HOME": str(home)}, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"outputs in {home}/datasets/demo" in out.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{home}/mlflow.db" in out.stdout
    demo = home / "datasets" / "demo"
    assert len(corpus_format.CorpusManifest.read(str(demo / "corpus")).clip_ids) == 6
    assert shards.Manifest.read(str(demo / "shards")).clips == 6
    assert "motion tokenizer at step 10" in out.stdout and "video tokenizer at step 10" in out.stdout
    assert "UniMo at step 10" in out.stdout
    # the console: the job's lines and bars; Ray's and the workers' output only in the log
    console = out.stdout + out.stderr
    assert "RayTrainWorker" not in console and "(pid=" not in console and "Started a local Ray instance" not in console
    assert "train unimo: 100%" in out.stderr and "windows fitted:" in out.stderr
    log = out.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    assert log.startswith(str(home / "logs")) and "RayTrainWorker" in open(log).read()
    from unimo.pipelines import video_io

    mocap_side, _ = video_io.decode((demo / "mocap" / "side_by_side.mp4").read_bytes())
    assert mocap_side.shape == (32, 64, 128, 3)  # the whole 32-frame video, captured in 17-frame windows
    overlay, _ = video_io.decode((demo / "mocap" / "overlay.mp4").read_bytes())
    assert overlay.shape == (32, 256, 256, 3)
    for row in ("| V2M tokens (greedy) |", "| sync: PA-MPJPE", "| generated video |"):  # the evaluation's tables
        assert row in out.stdout
    generated, _ = video_io.decode((demo / "generate" / "video.mp4").read_bytes())
    assert generated.shape == (17, 64, 64, 3) and (demo / "generate" / "motion.npz").exists()
    tokens = token_shards.TokenManifest.read(str(demo / "tokens"))
    assert tokens.clips == 6 and tokens.errors == 0  # one 17-frame window of each 32-frame video
    assert tokens.latent_frames == 5 and tokens.grid == [8, 8] and tokens.motion_tokens_per_latent == 2

    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("unimo").experiment_id])
    by_job = {(r.data.tags["unimo.job"], r.data.tags.get("unimo.stage")): r for r in runs}
    assert set(by_job) == {("demo", None), ("make_corpus", None), ("preprocess", None), ("train", "motion_tokenizer"),
                           ("train", "video_tokenizer"), ("pretokenize", None), ("train", "unimo"), ("evaluate", None),
                           ("mocap", None), ("generate", None)}
    assert all(r.info.status == "FINISHED" for r in runs)
    by_job = {job if job != "train" else stage: r for (job, stage), r in by_job.items()}
    parent = by_job["demo"].info.run_id
    assert all(by_job[j].data.tags["mlflow.parentRunId"] == parent
               for j in ("make_corpus", "preprocess", "motion_tokenizer", "video_tokenizer", "pretokenize", "unimo", "evaluate", "mocap",
                         "generate"))
    assert by_job["demo"].data.params["corpus.clips"] == "6"
    assert by_job["make_corpus"].data.metrics["clips_written"] == 6
    assert by_job["motion_tokenizer"].data.metrics["val/mpjpe_mm"] > 0 and by_job["video_tokenizer"].data.metrics["val/psnr"] > 0
    artifacts = {a.path for a in client.list_artifacts(by_job["video_tokenizer"].info.run_id, "samples")}
    assert artifacts == {"samples/clip_vs_reconstruction.mp4"}
    assert {"val/v2m_perplexity", "val/i2vm_accuracy", "val/m2v_loss"} <= set(by_job["unimo"].data.metrics)
    assert {a.path for a in client.list_artifacts(by_job["unimo"].info.run_id, "samples")} == {"samples/v2m_tokens.txt"}
    artifacts = {a.path for a in client.list_artifacts(by_job["make_corpus"].info.run_id)}
    assert {"config.yaml", "corpus.json", "samples"} <= artifacts
