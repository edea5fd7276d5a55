"""Training data from several sources at once: windows and normalisation statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unimo.models.motion_tokenizer.data import feature_stats, motion_datasets
from unimo.models.training.data import DataError, data_urls
from unimo.pipelines import corpus_format
from unimo.pipelines.corpus import CorpusConfig, build_corpus
from unimo.platform.motion_features import to_features


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory, on_ray):
    out = []
    for seed, clips in ((5, 3), (6, 5)):
        root = str(tmp_path_factory.mktemp(f"corpus{seed}"))
        build_corpus(CorpusConfig(clips=clips, frames=64, size=16, seed=seed), root, progress=False)
        out.append(root)
    return out


def test_sources_given_together_train_together(two_corpora):
    a, b = two_corpora
    windows = [sum(d.count() for d in motion_datasets(url, window=32, val_fraction=0.3)) for url in (a, b)]
    both = motion_datasets(f"{a}, {b}", window=32, val_fraction=0.3)
    assert sum(d.count() for d in both) == sum(windows) == 2 * (3 + 5)


def test_statistics_of_several_sources_are_those_of_their_frames_pooled(two_corpora):
    feats = []
    for root in two_corpora:
        for cid in corpus_format.CorpusManifest.read(root).clip_ids:
            lb = corpus_format.read_label(corpus_format.label_path(root, cid))
            feats.append(to_features(*(torch.from_numpy(lb[k]) for k in ("poses", "trans", "betas"))).double().numpy())
    pooled = np.concatenate(feats)
    mean, std = feature_stats(",".join(two_corpora))
    np.testing.assert_allclose(mean, pooled.mean(0), atol=1e-5)
    np.testing.assert_allclose(std, pooled.std(0), atol=1e-4)


def test_one_bad_source_among_several_is_named(two_corpora, tmp_path):
    with pytest.raises(DataError, match=f"data path '{tmp_path / 'missing'}' holds neither"):
        data_urls(f"{two_corpora[0]},{tmp_path / 'missing'}")
