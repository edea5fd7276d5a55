"""Storage through fsspec: the same calls on local paths, memory:// and S3 (a real
S3-compatible server on 127.0.0.1: the `s3_server` fixture in conftest.py)."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from unimo.platform import storage
from unimo.platform.errors import StorageError


@pytest.fixture(params=["local", "file_url", "memory", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "root")
    if request.param == "file_url":
        return f"file://{tmp_path}/root"
    if request.param == "memory":
        return f"memory://unimo-test-{uuid.uuid4().hex[:8]}"
    return request.getfixturevalue("s3_root")


def test_write_read_list_round_trip(root):
    a = storage.join(root, "clips", "a.txt")
    b = storage.join(root, "clips", "sub", "b.bin")
    storage.write_text(a, "hello")
    storage.write_bytes(b, b"\x00\x01")
    assert storage.exists(a) and not storage.exists(storage.join(root, "nope"))
    assert storage.read_text(a) == "hello"
    assert storage.read_bytes(b) == b"\x00\x01"
    # glob and find give back full URLs that open again as they are
    assert storage.glob(storage.join(root, "clips", "*.txt")) == [storage.resolve(a)]
    found = storage.find(storage.join(root, "clips"))
    assert found == sorted([storage.resolve(a), storage.resolve(b)])
    assert all(storage.exists(f) for f in found)
    assert storage.info(a)["size"] == 5
    storage.remove(storage.join(root, "clips"), recursive=True)
    assert not storage.exists(a)


def test_pyarrow_reads_and_writes_through_the_same_urls(root):
    fs, path = storage.pyarrow_filesystem(storage.join(root, "t.parquet"))
    table = pa.table({"clip_id": ["a", "b"], "num_frames": [3, 4]})
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pq.write_table(table, path, filesystem=fs)
    assert pq.read_table(path, filesystem=fs).equals(table)


def test_local_paths_resolve_absolute_and_file_urls_are_local(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.resolve("out") == str(tmp_path / "out")
    assert storage.resolve(f"file://{tmp_path}/x") == str(tmp_path / "x")
    assert storage.resolve("s3://bucket/x/") == "s3://bucket/x"
    assert storage.is_local("out") and not storage.is_local("memory://x")


def test_local_writes_are_atomic(tmp_path):
    target = tmp_path / "deep" / "f.json"
    storage.write_text(str(target), "{}")
    assert target.read_text() == "{}"
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temporary left behind


def test_errors_name_the_url(tmp_path):
    missing = str(tmp_path / "missing.txt")
    with pytest.raises(StorageError, match=f"cannot open '{missing}': no such file"):
        storage.read_text(missing)
    with pytest.raises(StorageError, match="storage 'nosuchproto://x'"):
        storage.exists("nosuchproto://x")
    with pytest.raises(StorageError, match="cannot list .*nothing-here"):
        storage.find(str(tmp_path / "nothing-here"))


def test_unreachable_s3_bucket_is_a_clear_error(s3_server):
    with pytest.raises(StorageError, match="s3://no-such-bucket-unimo/x.txt"):
        storage.read_text("s3://no-such-bucket-unimo/x.txt")
