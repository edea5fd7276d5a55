"""Storage: every path in unimo is a local path or an fsspec URL, handled here.

Local paths, `file://`, `memory://`, `s3://`, `gs://` and anything else fsspec knows all
go through the same few functions, so a job that writes to `./out` on a laptop writes to
`s3://bucket/out` on a cluster with no other change.

S3-compatible servers (MinIO, Ceph, a test server) are reached by setting
`AWS_ENDPOINT_URL`, which s3fs honours like every AWS SDK does.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from typing import IO, Any

import fsspec

from unimo.platform.errors import StorageError


def is_url(path: str) -> bool:
    return "://" in str(path)


def protocol(path: str) -> str:
    return str(path).split("://", 1)[0] if is_url(path) else "file"


def resolve(path: str) -> str:
    """Canonical form: local paths absolute (so Ray workers agree on them), URLs unchanged."""
    path = os.fspath(path)
    if path.startswith("file://"):
        return os.path.abspath(path[len("file://") :])
    if is_url(path):
        proto, rest = path.split("://", 1)
        if proto == "memory":  # fsspec's memory paths are rooted at "/": one spelling
            rest = rest.lstrip("/")
        return f"{proto}://{rest.rstrip('/')}" if rest.strip("/") else path
    return os.path.abspath(os.path.expanduser(path))


def is_local(path: str) -> bool:
    return protocol(path) == "file"


def join(base: str, *parts: str) -> str:
    base = resolve(base)
    if is_local(base):
        return os.path.join(base, *parts)
    return posixpath.join(base, *parts)


def filesystem(path: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """(fsspec filesystem, path within it) for a path or URL."""
    path = resolve(path)
    try:
        return fsspec.core.url_to_fs(path)
    except ImportError as e:
        extra = " (pip install 'unimo[s3]')" if protocol(path) == "s3" else ""
        raise StorageError(f"storage '{path}': support for '{protocol(path)}://' is not installed{extra}: {e}") from None
    except ValueError as e:
        raise StorageError(f"storage '{path}': {e}") from None


def _unqualified(fs: fsspec.AbstractFileSystem, path: str) -> str:
    """Put the protocol back on a path fsspec returned without it."""
    proto = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if proto in ("file", "local"):
        return path
    return resolve(fs.unstrip_protocol(path))


def _wrap(action: str, path: str, e: Exception) -> StorageError:
    if isinstance(e, FileNotFoundError):
        return StorageError(f"cannot {action} '{path}': no such file or folder")
    if isinstance(e, PermissionError):
        return StorageError(f"cannot {action} '{path}': permission denied")
    return StorageError(f"cannot {action} '{path}': {type(e).__name__}: {e}")


def exists(path: str) -> bool:
    fs, p = filesystem(path)
    try:
        return fs.exists(p)
    except Exception as e:  # noqa: BLE001 - any backend failure is the URL's fault here
        raise _wrap("check", path, e) from None


def open(path: str, mode: str = "rb", **kwargs: Any) -> IO:  # noqa: A001 - mirrors fsspec
    fs, p = filesystem(path)
    try:
        return fs.open(p, mode, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise _wrap("open", path, e) from None


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file. Local writes go through a temporary name and a rename, so a
    reader (or a killed job) never sees half a file; object stores are atomic per object."""
    fs, p = filesystem(path)
    try:
        fs.makedirs(fs._parent(p), exist_ok=True)
        if is_local(path):
            tmp = f"{p}.tmp-{uuid.uuid4().hex[:8]}"
            with fs.open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, p)
        else:
            with fs.open(p, "wb") as f:
                f.write(data)
    except Exception as e:  # noqa: BLE001
        raise _wrap("write", path, e) from None


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj) -> None:
    import json

    write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def read_json(path: str):
    import json

    try:
        return json.loads(read_text(path))
    except ValueError as e:
        raise StorageError(f"cannot read '{path}': not valid JSON ({e})") from None


def makedirs(path: str) -> None:
    fs, p = filesystem(path)
    try:
        fs.makedirs(p, exist_ok=True)
    except Exception as e:  # noqa: BLE001
        raise _wrap("create", path, e) from None


def glob(pattern: str) -> list[str]:
    """Sorted matches of a glob, as full URLs (or local paths)."""
    fs, p = filesystem(pattern)
    try:
        return sorted(_unqualified(fs, m) for m in fs.glob(p))
    except Exception as e:  # noqa: BLE001
        raise _wrap("list", pattern, e) from None


def find(path: str) -> list[str]:
    """Every file under a folder (recursively), or the path itself if it is a file."""
    fs, p = filesystem(path)
    try:
        if fs.isfile(p):
            return [_unqualified(fs, p)]
        if not fs.exists(p):
            raise FileNotFoundError(p)
        return sorted(_unqualified(fs, m) for m in fs.find(p))
    except Exception as e:  # noqa: BLE001
        raise _wrap("list", path, e) from None


def info(path: str) -> dict[str, Any]:
    """Size and modification time of a file, in the form resume checks compare."""
    fs, p = filesystem(path)
    try:
        meta = fs.info(p)
    except Exception as e:  # noqa: BLE001
        raise _wrap("stat", path, e) from None
    mtime = meta.get("mtime") or meta.get("LastModified") or meta.get("updated") or meta.get("created")
    return {"size": meta.get("size"), "mtime": str(mtime) if mtime is not None else None}


def move(src: str, dst: str) -> None:
    """Move a file (a rename locally; copy and delete on object stores)."""
    fs, p = filesystem(src)
    _, q = filesystem(dst)
    try:
        fs.makedirs(fs._parent(q), exist_ok=True)
        fs.mv(p, q)
    except Exception as e:  # noqa: BLE001
        raise _wrap("move", src, e) from None


def remove(path: str, recursive: bool = False) -> None:
    fs, p = filesystem(path)
    try:
        if fs.exists(p):
            fs.rm(p, recursive=recursive)
    except Exception as e:  # noqa: BLE001
        raise _wrap("remove", path, e) from None


def pyarrow_filesystem(path: str):
    """(pyarrow filesystem, path) for Ray Data's and pyarrow's readers and writers."""
    import pyarrow.fs as pafs

    path = resolve(path)
    if is_local(path):
        return pafs.LocalFileSystem(), path
    fs, p = filesystem(path)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), p
