"""A stage's training examples, described once and readable two ways:

- as Ray Datasets (the ray runner): Ray Data reads the sources, splits train from
  validation, expands rows into examples and streams them to the workers;
- as in-memory arrays through plain pyarrow and numpy (the local runner), which must run
  where Ray is not installed.

A source is a list of rows (small dicts, e.g. a corpus's label paths) or a Parquet folder,
plus how one row becomes examples (e.g. a clip cut into windows). A row lands wholly in
training or validation by a hash of its `split_key`, so no example leaks across, and both
readers agree on the split.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from unimo.platform import storage
from unimo.platform.errors import UnimoError


class DataError(UnimoError):
    """A data path that holds neither shards nor a corpus, or too little to train on."""


KINDS = ("shards", "corpus", "tokens")


def kind_of(url: str) -> str:
    """'shards' (preprocessing), 'corpus' (make_corpus) or 'tokens' (pretokenize)."""
    from unimo.pipelines import corpus_format, shards, token_shards

    if storage.exists(storage.join(url, token_shards.TOKENS)) and storage.exists(storage.join(url, token_shards.MANIFEST)):
        return "tokens"
    if storage.exists(storage.join(url, shards.MANIFEST)):
        return "shards"
    if storage.exists(storage.join(url, corpus_format.MANIFEST)):
        return "corpus"
    raise DataError(f"data path '{url}' holds neither preprocessed shards ({shards.MANIFEST}), a corpus ({corpus_format.MANIFEST}) "
                    f"nor token shards ({token_shards.TOKENS}/)")


def data_urls(spec: str, kinds: tuple[str, ...] = ("shards", "corpus")) -> list[str]:
    """One data URL, or several separated by commas, each resolved and checked to be one of `kinds`."""
    urls = [storage.resolve(u.strip()) for u in spec.split(",") if u.strip()]
    if not urls:
        raise DataError("no data URL given")
    for url in urls:
        kind = kind_of(url)
        if kind not in kinds:
            raise DataError(f"data path '{url}' holds {kind.replace('tokens', 'token shards')}, which this stage does not read "
                            f"(it reads {' or '.join(k.replace('tokens', 'token shards') for k in kinds)})")
    return urls


@dataclass
class ExampleSource:
    to_examples: Callable[..., list[dict]]  # (row, **kwargs) -> examples of equal-shaped arrays
    kwargs: dict
    rows: list[dict] | None = None  # either the rows themselves ...
    parquet: str | None = None  # ... or a folder of Parquet files holding them
    columns: list[str] | None = None
    split_key: str = "clip_id"


def in_validation(key: str, fraction: float) -> bool:
    return (zlib.crc32(key.encode()) % 1000) < fraction * 1000


def _in_split(row: dict, source: ExampleSource, fraction: float, validation: bool) -> bool:
    return in_validation(row[source.split_key], fraction) == validation


# -- Ray Data ------------------------------------------------------------------------------


def ray_datasets(sources: list[ExampleSource], val_fraction: float):
    """(train, validation) Ray Datasets of examples over every source, in source order."""
    from ray.data import DataContext

    # blocks in order, not as they finish: the same examples in the same order as the plain
    # reader, so both runners draw the same batches from the same seed
    DataContext.get_current().execution_options.preserve_order = True
    parts = [_ray_source(s, val_fraction) for s in sources]
    train, val = parts[0]
    for t, v in parts[1:]:
        train, val = train.union(t), val.union(v)
    return train, val


def _ray_source(source: ExampleSource, fraction: float):
    import ray

    if source.rows is not None:
        parts = [ray.data.from_items([r for r in source.rows if _in_split(r, source, fraction, v)]) for v in (False, True)]
    else:
        fs, path = storage.pyarrow_filesystem(source.parquet)
        table = ray.data.read_parquet(path, filesystem=fs, columns=source.columns)
        parts = [table.filter(lambda r, v=v: _in_split(r, source, fraction, v)) for v in (False, True)]
    return tuple(p.flat_map(source.to_examples, fn_kwargs=source.kwargs) for p in parts)


# -- plain pyarrow and numpy -----------------------------------------------------------------


def _plain_rows(source: ExampleSource) -> Iterator[dict]:
    if source.rows is not None:
        yield from source.rows
        return
    import pyarrow.parquet as pq

    fs, path = storage.pyarrow_filesystem(source.parquet)
    dataset = pq.ParquetDataset(path, filesystem=fs)
    for fragment in sorted(dataset.fragments, key=lambda f: f.path):
        yield from fragment.to_table(columns=source.columns).to_pylist()


def plain_arrays(sources: list[ExampleSource], val_fraction: float, validation: bool, limit: int | None = None,
                 progress: bool = False) -> dict[str, np.ndarray]:
    """Every example of one split, stacked: {key: (N, ...)} in source and row order (the
    order Ray Data gives with `preserve_order`)."""
    from unimo.platform.console import progress as progress_bar

    examples: list[dict] = []
    with progress_bar(desc="validation examples" if validation else "training examples", unit="ex", disable=not progress) as bar:
        for source in sources:
            for row in _plain_rows(source):
                if not _in_split(row, source, val_fraction, validation):
                    continue
                new = source.to_examples(row, **source.kwargs)
                examples.extend(new)
                bar.update(len(new))
                if limit is not None and len(examples) >= limit:
                    return stack(examples[:limit])
    return stack(examples)


def stack(examples: list[dict]) -> dict[str, np.ndarray]:
    if not examples:
        return {}
    return {k: np.stack([np.asarray(e[k]) for e in examples]) for k in examples[0]}


def num_examples(arrays: dict[str, np.ndarray]) -> int:
    return len(next(iter(arrays.values()))) if arrays else 0
