"""The synthetic corpus: files in the documented layout, consistent labels, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimo.pipelines import corpus_format, procedural, video_io
from unimo.pipelines.bvh import write_bvh
from unimo.pipelines.corpus import CorpusConfig, clip_id, list_motion_files, make_clip, rendered_clip
from unimo.platform import body_model, storage
from unimo.platform.config import load_config
from unimo.platform.errors import ConfigError
from unimo.platform.render import project


@pytest.fixture(scope="module")
def kin():
    return body_model.load_kinematics(body_model.STANDIN)


@pytest.fixture(scope="module")
def small():
    return CorpusConfig(clips=2, frames=20, size=64, seed=5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, small):
    out = str(tmp_path_factory.mktemp("corpus"))
    results = [make_clip(small, out, i, []) for i in range(small.clips)]
    return out, results


def test_clip_files_decode_and_labels_have_the_documented_keys(corpus, small):
    out, results = corpus
    for r in results:
        assert not r["skipped"] and r["info"]["family"] in procedural.FAMILIES
        frames, fps = video_io.decode(storage.read_bytes(corpus_format.video_path(out, r["clip_id"])))
        assert frames.shape == (small.frames, small.size, small.size, 3) and fps == pytest.approx(small.fps)
        label = corpus_format.read_label(corpus_format.label_path(out, r["clip_id"]))
        assert set(label) == set(corpus_format.LABEL_KEYS)
        T = small.frames
        shapes = {"poses": (T, 72), "trans": (T, 3), "betas": (10,), "K": (3, 3), "R": (T, 3, 3), "t": (T, 3),
                  "keypoints2d": (T, 24, 2), "visibility": (T, 24)}
        assert {k: label[k].shape for k in shapes} == shapes
        assert str(label["gender"]) == "neutral" and float(label["mocap_framerate"]) == small.fps


def test_reprojecting_label_joints_reproduces_keypoints(corpus, kin):
    out, results = corpus
    for r in results:
        label = corpus_format.read_label(corpus_format.label_path(out, r["clip_id"]))
        joints = kin(torch.from_numpy(label["poses"]), torch.from_numpy(label["betas"]), torch.from_numpy(label["trans"]))
        uv, depth = project(joints, torch.from_numpy(label["K"]), torch.from_numpy(label["R"]), torch.from_numpy(label["t"]))
        assert (depth > 0).all()
        assert (uv - torch.from_numpy(label["keypoints2d"])).norm(dim=-1).max() < 0.5


def test_same_seed_and_clip_id_give_the_same_clip(corpus, small, tmp_path):
    out, _ = corpus
    again = make_clip(small, str(tmp_path), 1, [])
    cid = clip_id(1)
    assert storage.read_bytes(corpus_format.video_path(str(tmp_path), cid)) == storage.read_bytes(corpus_format.video_path(out, cid))
    a = corpus_format.read_label(corpus_format.label_path(str(tmp_path), cid))
    b = corpus_format.read_label(corpus_format.label_path(out, cid))
    for k in corpus_format.LABEL_KEYS:
        np.testing.assert_array_equal(a[k], b[k])
    make_clip(CorpusConfig(clips=2, frames=20, size=64, seed=6), str(tmp_path / "other"), 1, [])
    c = corpus_format.read_label(corpus_format.label_path(str(tmp_path / "other"), cid))
    assert not np.array_equal(a["poses"], c["poses"])
    assert again["info"] == make_clip(small, str(tmp_path / "third"), 1, [])["info"]


def test_motion_only_clip_has_the_same_motion_and_no_video(corpus, small, tmp_path):
    out, _ = corpus
    cid = clip_id(1)
    make_clip(CorpusConfig(clips=2, frames=20, size=64, seed=5, videos=False), str(tmp_path), 1, [])
    label = corpus_format.read_label(corpus_format.label_path(str(tmp_path), cid))
    assert set(label) == set(corpus_format.MOTION_KEYS)
    full = corpus_format.read_label(corpus_format.label_path(out, cid))
    for k in ("poses", "trans", "betas"):
        np.testing.assert_array_equal(label[k], full[k])
    assert not storage.exists(corpus_format.video_path(str(tmp_path), cid))
    with pytest.raises(corpus_format.LabelError, match="lacks R, keypoints2d"):
        corpus_format.write_label(str(tmp_path / "half.npz"), {**label, "K": full["K"], "t": full["t"]})


def test_a_clip_rendered_in_memory_is_the_corpus_clip_before_encoding(corpus, small):
    out, _ = corpus
    motion, clip = rendered_clip(small, 1)  # what a box without PyAV trains on (the GPU check)
    label = corpus_format.read_label(corpus_format.label_path(out, clip_id(1)))
    for key, value in {"poses": motion.poses, "trans": motion.trans, "K": clip.K, "R": clip.R, "keypoints2d": clip.keypoints2d}.items():
        np.testing.assert_array_equal(value, label[key])
    decoded, _ = video_io.decode(storage.read_bytes(corpus_format.video_path(out, clip_id(1))))
    diff = np.abs(decoded.astype(np.float32) - clip.frames.astype(np.float32))
    assert clip.frames.shape == decoded.shape and diff.mean() < 4  # H.264's loss, not another clip
    _, other = rendered_clip(small, 0)
    assert np.abs(decoded.astype(np.float32) - other.frames.astype(np.float32)).mean() > 4 * diff.mean()


def test_random_duration_between_min_frames_and_frames(tmp_path):
    cfg = CorpusConfig(clips=4, frames=20, min_frames=8, size=32, seed=1)
    lengths = {len(corpus_format.read_label(corpus_format.label_path(str(tmp_path), r["clip_id"]))["poses"])
               for r in (make_clip(cfg, str(tmp_path), i, []) for i in range(4))}
    assert all(8 <= n <= 20 for n in lengths) and len(lengths) > 1


def test_rerun_skips_finished_clips(corpus, small):
    out, _ = corpus
    assert make_clip(small, out, 0, [])["skipped"]


def test_bvh_source_renders_the_imported_motion(tmp_path, kin):
    # The importer retargets to betas = 0; a motion made on that body must come back exactly.
    motion = procedural.generate("walk", 80, 30.0, np.random.default_rng(2), kin, betas=np.zeros(10))
    (tmp_path / "mocap").mkdir()
    (tmp_path / "mocap" / "walk.bvh").write_text(write_bvh(motion, kin))
    cfg = CorpusConfig(clips=1, frames=24, size=64, source=f"bvh {tmp_path / 'mocap'}")
    files = list_motion_files("bvh", str(tmp_path / "mocap"))
    result = make_clip(cfg, str(tmp_path / "out"), 0, files)
    assert result["info"]["source"].endswith("walk.bvh")
    label = corpus_format.read_label(corpus_format.label_path(str(tmp_path / "out"), clip_id(0)))
    start = result["info"]["start_frame"]
    mine = kin(torch.from_numpy(label["poses"]), torch.zeros(10), torch.from_numpy(label["trans"]))
    ref = kin(torch.from_numpy(motion.poses[start : start + 24].copy()), torch.zeros(10), torch.from_numpy(motion.trans[start : start + 24].copy()))
    assert (mine - ref).norm(dim=-1).max() < 1e-3


@pytest.mark.parametrize(
    "override, message",
    [
        ("source=fbx ./x", "source must be 'procedural', 'amass PATH', 'bvh PATH', 'deepmimic PATH', 'bvhtools' or 'deepmimic'"),
        ("size=63", "size must be an even number"),
        ("families=[walk, moonwalk]", "unknown families ['moonwalk']"),
    ],
)
def test_bad_corpus_config_is_a_config_error(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(CorpusConfig, None, [override])
