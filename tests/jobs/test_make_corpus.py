"""jobs/make_corpus.py: parallel Ray tasks write the corpus; a rerun resumes."""

import pytest
from support import run_job

from unimo.pipelines import corpus_format, video_io
from unimo.platform import storage


@pytest.mark.slow
def test_make_corpus_writes_every_clip_and_a_rerun_skips_them(tmp_path):
    out = tmp_path / "corpus"
    args = ["--out", str(out), "--clips", "4", "--seed", "3", "--frames", "12", "--size", "48"]
    first = run_job("make_corpus.py", *args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"4 clips written, 0 already there, in {out}" in first.stdout
    manifest = corpus_format.CorpusManifest.read(str(out))
    assert manifest.clip_ids == [f"clip_{i:06d}" for i in range(4)] and manifest.seed == 3
    for cid in manifest.clip_ids:
        frames, _ = video_io.decode(storage.read_bytes(corpus_format.video_path(str(out), cid)))
        assert frames.shape == (12, 48, 48, 3)
        assert manifest.clip_info[cid]["family"]

    # a killed run leaves some clips; the rerun finishes only the missing one
    storage.remove(corpus_format.label_path(str(out), "clip_000002"))
    second = run_job("make_corpus.py", *args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "1 clips written, 3 already there" in second.stdout
    assert corpus_format.CorpusManifest.read(str(out)).clip_info == manifest.clip_info


def test_make_corpus_bad_source_path_is_one_line(tmp_path):
    # the issue's own spelling: --source bvh PATH, two words
    out = run_job("make_corpus.py", "--out", str(tmp_path / "c"), "--source", "bvh", str(tmp_path / "nothing"), timeout=300)
    assert out.returncode == 1
    assert out.stderr.strip() == f"jobs/make_corpus.py: error: cannot list '{tmp_path / 'nothing'}': no such file or folder"
