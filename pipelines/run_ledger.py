"""How preprocessing and pre-tokenization finish what they start, and resume what they did
not: one scheme for both.

A run writes into `_staging/<run>/` (its shards, and a row in `errors/` for each bad
input), then commits: it moves its shards into place under names prefixed `<run>--` and
writes `_ledger/<run>.json` naming the inputs it covered. A rerun reads the ledgers, skips
the inputs they name, and removes whatever a run without a ledger (a killed one) left.
An input is named by (source, size, mtime), so a changed file is done again.
"""

from __future__ import annotations

import logging
import uuid

import pyarrow as pa
import pyarrow.parquet as pq

from unimo.pipelines.shards import ERROR_SCHEMA, ERRORS, LEDGER, STAGING
from unimo.platform import storage

log = logging.getLogger(__name__)


def input_key(row: dict) -> tuple:
    return (row["source"], row.get("source_size"), str(row.get("source_mtime")))


def read_ledgers(output: str) -> list[dict]:
    return [storage.read_json(p) for p in storage.glob(storage.join(output, LEDGER, "*.json"))]


def record_error(staging: str, row: dict, stage: str, error: BaseException) -> None:
    """One bad input's row of the errors table, staged with the run."""
    message = " ".join(str(error).split()) or type(error).__name__
    table = pa.Table.from_pylist([{
        "source": row["source"], "stage": stage, "error_class": type(error).__name__, "message": message[:2000],
        "source_size": row.get("source_size"), "source_mtime": row.get("source_mtime"),
    }], schema=ERROR_SCHEMA)
    fs, path = storage.pyarrow_filesystem(storage.join(staging, ERRORS, f"{uuid.uuid4().hex}.parquet"))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pq.write_table(table, path, filesystem=fs)


def prepare_resume(output: str, data_folder: str) -> set[tuple]:
    """Inputs committed by earlier runs; removes what killed runs left behind in
    `data_folder` and the errors table."""
    storage.remove(storage.join(output, STAGING), recursive=True)
    ledgers = read_ledgers(output)
    committed = {lg["run"] for lg in ledgers}
    for folder in (data_folder, ERRORS):
        for path in storage.glob(storage.join(output, folder, "*.parquet")):
            if path.rsplit("/", 1)[-1].split("--", 1)[0] not in committed:
                log.warning("removing %s: written by a run that did not finish", path)
                storage.remove(path)
    return {tuple(k) for lg in ledgers for k in lg["inputs"]}
