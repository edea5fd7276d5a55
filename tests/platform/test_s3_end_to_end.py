"""S3 end to end: a corpus, preprocessing and a short tokenizer training with every URL on
s3:// (moto's S3 server on 127.0.0.1, reached through AWS_ENDPOINT_URL as MinIO would be).

Inputs, shards, UNIMO_HOME (so Ray Train's storage_path and its checkpoints) and MLflow's
artifacts (a tracking server with --artifacts-destination s3://...) all live in one bucket;
every job runs as a user runs it, as a subprocess. What each step wrote is listed straight
from the bucket with boto3, not through unimo's own storage layer."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import torch
from support import mlflow_server, run_job

pytestmark = pytest.mark.slow

CLIPS, FRAMES, WINDOW = 3, 48, 16  # 3 clips of 3 windows each: a few to train on, a few to validate on
RUN = "s3-e2e"


def keys(s3, bucket: str, prefix: str) -> list[str]:
    """Every object key under `prefix`, relative to it."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [o["Key"][len(prefix):] for o in page.get("Contents", [])]
    return sorted(found)


def run_ok(script: str, *args: str, env: dict) -> str:
    started = time.time()
    out = run_job(script, *args, env=env, timeout=400)
    print(f"{script}: {time.time() - started:.0f} s")
    assert out.returncode == 0, f"{script} exited {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def test_corpus_preprocess_and_training_with_every_url_on_s3(s3_server, tmp_path, monkeypatch):
    import boto3

    # boto3 is told the endpoint itself: what it lists is what the server holds
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = f"unimo-e2e-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    root = f"s3://{bucket}"

    with mlflow_server(tmp_path, f"s3://{bucket}/mlflow") as tracking_uri:
        # UNIMO_HOME on S3: Ray Train's storage_path defaults to s3://bucket/home/checkpoints,
        # and MLflow must use the tracking server (there is no local SQLite store)
        # and a Ray of each job's own, whose workers inherit the S3 endpoint and credentials
        # (the session's shared cluster started before the S3 server)
        env = {"UNIMO_HOME": f"{root}/home", "MLFLOW_TRACKING_URI": tracking_uri, "RAY_ADDRESS": ""}

        # 1. a corpus written to S3
        run_ok("make_corpus.py", "--out", f"{root}/corpus", "--clips", str(CLIPS), "--frames", str(FRAMES),
               "--size", "64", "--seed", "5", env=env)
        ids = [f"clip_{i:06d}" for i in range(CLIPS)]
        assert keys(s3, bucket, "corpus/") == sorted(["corpus.json", *(f"labels/{c}.npz" for c in ids),
                                                      *(f"videos/{c}.mp4" for c in ids)])

        # 2. preprocessing: videos read from S3 (labels found beside them), shards written to S3
        stdout = run_ok("preprocess.py", "--input", f"{root}/corpus/videos", "--output", f"{root}/shards", "keypoints=labels",
                        f"decode.window={WINDOW}", f"decode.stride={WINDOW}", "decode.size=64", "fit.iterations=20",
                        "fit.headings=1", "fit.keep_headings=1", "fit.pose_inits=false", env=env)
        assert f"output      {root}/shards" in stdout
        shard_keys = keys(s3, bucket, "shards/")
        assert "manifest.json" in shard_keys and any(k.startswith("clips/") and k.endswith(".parquet") for k in shard_keys)
        manifest = json.loads(s3.get_object(Bucket=bucket, Key="shards/manifest.json")["Body"].read())
        assert manifest["clips"] == CLIPS * FRAMES // WINDOW, manifest
        assert not [k for k in shard_keys if k.startswith("errors/")], shard_keys

        # 3. training on those shards: Ray Data reads them, Ray Train checkpoints to S3
        stdout = run_ok("train.py", "--stage", "motion_tokenizer", "--data", f"{root}/shards", "--debug",
                        f"motion_tokenizer.data.window={WINDOW}", "trainer.batch_size=4", "trainer.steps=4",
                        "trainer.checkpoint_every=2", "trainer.eval_every=4", f"trainer.run_name={RUN}", env=env)
        found = re.search(r"trained motion_tokenizer to step 4: checkpoint (\S+)", stdout)
        assert found, stdout[-2000:]
        checkpoint = found.group(1)  # reported as the URL it is, not as a path inside the bucket
        prefix = f"home/checkpoints/{RUN}/"
        assert checkpoint.startswith(f"{root}/{prefix}checkpoint_"), checkpoint
        stored = keys(s3, bucket, prefix)
        saved = [k for k in stored if re.fullmatch(r"checkpoint_[^/]+/state\.pt", k)]
        assert len(saved) == 2, stored  # steps 2 and 4 (keep_checkpoints=2)
        assert f"{checkpoint[len(root) + 1 + len(prefix):]}/state.pt" in saved
        snapshot = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}checkpoint_manager_snapshot.json")["Body"].read())
        assert snapshot["latest_checkpoint_result"]["metrics"]["step"] == 4
        last_state = s3.get_object(Bucket=bucket, Key=f"{checkpoint[len(root) + 1:]}/state.pt")["Body"].read()

        # 4. MLflow: three runs, each one's artifacts objects under s3://bucket/mlflow
        import mlflow

        client = mlflow.MlflowClient(tracking_uri)
        experiment = client.get_experiment_by_name("unimo")
        runs = {r.data.tags["unimo.job"]: r for r in client.search_runs([experiment.experiment_id])}
        assert sorted(runs) == ["make_corpus", "preprocess", "train"]
        artifacts = keys(s3, bucket, "mlflow/")
        for job, run in runs.items():
            assert run.info.status == "FINISHED", job
            assert f"{experiment.experiment_id}/{run.info.run_id}/artifacts/config.yaml" in artifacts, (job, artifacts)
        train_run = runs["train"].info.run_id
        logged = f"{experiment.experiment_id}/{train_run}/artifacts/checkpoint/state.pt"
        assert logged in artifacts, artifacts
        # the checkpoint MLflow holds is the run's last one, byte for byte
        assert s3.get_object(Bucket=bucket, Key=f"mlflow/{logged}")["Body"].read() == last_state
        assert runs["train"].data.metrics["val/mpjpe_mm"] > 0

        # and it loads back by run id, fetched through the server from the bucket
        from unimo.models.motion_tokenizer.api import MotionTokenizerInference

        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        tok = MotionTokenizerInference.load(f"runs:/{train_run}")
        poses, trans, betas = torch.zeros(1, WINDOW, 72), torch.zeros(1, WINDOW, 3), torch.zeros(1, 10)
        p, t, b = tok.decode(tok.encode(poses, trans, betas))
        assert p.shape == (1, WINDOW, 72) and t.shape == (1, WINDOW, 3) and b.shape == (1, 10)
