"""The shipped detector (MediaPipe Pose, in its own Ray runtime_env) on a real video of a
person, taken from a registry package: sports2d's demo (a full-body jump)."""

from __future__ import annotations

import os
import subprocess
import zipfile

import numpy as np
import pyarrow.dataset as pads
import pytest
from support import PYTHON

from unimo.pipelines import shards
from unimo.pipelines.preprocess import PreprocessConfig, run_preprocess
from unimo.platform.config import load_config
from unimo.platform.smpl_skeleton import JOINT

SPORTS2D = "sports2d==0.8.34"


def fetch_demo_video(cache: str) -> str | None:
    """Sports2D/Demo/demo.mp4 from the sports2d wheel (downloaded once), or None."""
    target = os.path.join(cache, "demo.mp4")
    if os.path.exists(target):
        return target
    os.makedirs(cache, exist_ok=True)
    done = subprocess.run([PYTHON, "-m", "pip", "download", "-q", "--no-deps", SPORTS2D, "-d", cache],
                          capture_output=True, text=True, timeout=600)
    wheels = [f for f in os.listdir(cache) if f.startswith("sports2d") and f.endswith(".whl")]
    if done.returncode != 0 or not wheels:
        return None
    with zipfile.ZipFile(os.path.join(cache, wheels[0])) as z, open(target, "wb") as out:
        out.write(z.read("Sports2D/Demo/demo.mp4"))
    return target


@pytest.fixture(scope="module")
def demo_video():
    path = fetch_demo_video(os.path.join(os.path.expanduser("~"), ".cache", "unimo", "registry", "sports2d"))
    if path is None:
        pytest.skip(f"{SPORTS2D} could not be fetched from the package registry")
    return path


@pytest.mark.slow
def test_mediapipe_finds_the_person_and_the_fit_follows(ray_local, demo_video, tmp_path):
    cfg = load_config(PreprocessConfig, None, [
        f"input={demo_video}", f"output={tmp_path / 'out'}", "keypoints=mediapipe",
        "decode.fps=10", "decode.size=192", "decode.window=16", "decode.stride=16", "fit.iterations=60", "fit.headings=2",
    ])
    try:
        summary = run_preprocess(cfg)
    except Exception as e:  # the runtime_env needs the registry to build
        if "pip" in str(e).lower() or "runtime_env" in str(e).lower():
            pytest.skip(f"the detector's runtime_env could not be built here: {str(e)[:200]}")
        raise
    assert summary.inputs_failed == 0 and summary.clips_ok >= 3  # 230 frames at 30 fps -> 76 at 10 fps
    rows = pads.dataset(str(tmp_path / "out" / shards.CLIPS), format="parquet").to_table().to_pylist()
    for row in rows:
        assert row["keypoint_source"].startswith("mediapipe")
        kp, conf = shards.array(row, "keypoints2d"), shards.array(row, "keypoint_conf")
        seen = conf[:, [JOINT["pelvis"], JOINT["left_shoulder"], JOINT["right_ankle"]]] > 0.5
        assert seen.mean() > 0.8  # the jumper is found in most frames
        ok = conf[:, JOINT["head"]] > 0.5
        # anatomy in the image: head above pelvis above ankles (y grows downwards)
        assert (kp[ok, JOINT["head"], 1] < kp[ok, JOINT["pelvis"], 1]).mean() > 0.9
        assert (kp[ok, JOINT["pelvis"], 1] < kp[ok, JOINT["left_ankle"], 1]).mean() > 0.9
        assert np.median(shards.array(row, "fit_residual_px")) < 15.0
