"""`cache_shards`: the sharded memory-mapped store for large sets. Parallel build, resume without redoing finished
shards, a changed source redoing only its shard, and reading by fastai's DataLoaders."""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cxr_nb.data.dataloaders import classification_dls
from cxr_nb.data.cache import (PILCachedCXR, cache_images, cache_shards, expand_brightness_levels, prepare_cxr, read_cached, use_cached)


@pytest.fixture
def films(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "films"
    d.mkdir()
    for i in range(10):
        a = (rng.random((40 + i, 48)) * 255).astype(np.uint8)  # sizes differ: every one is padded differently
        Image.fromarray(a).save(d / f"f{i:02d}.png")
    (d / "f05_bad.png").write_text("not a png")
    return d


def _shard_files(cache):
    return sorted(cache.glob("shard-*.npy"))


def test_parallel_build_matches_the_recipe(films, tmp_path):
    df = cache_shards(films, tmp_path / "s", size=32, shard_size=4, workers=2, progress=False)
    assert len(df) == 10 and df.attrs["cache_stats"]["bad"] == 1 and "f05_bad" in df.attrs["cache_report"][0][0]
    assert len(_shard_files(tmp_path / "s")) == 3  # 11 sources in shards of 4
    for p, ref in zip(df.path, df.cache_path):
        np.testing.assert_allclose(read_cached(ref), prepare_cxr(p, 32)[0], atol=0.5 / 255 + 1e-6)
    one = cache_images(films, tmp_path / "one", size=32, workers=1, progress=False, verbose=False)
    assert df.pad_info.tolist() == one.pad_info.tolist() and df.orig_size.tolist() == one.orig_size.tolist()
    arr = np.load(_shard_files(tmp_path / "s")[0])
    assert arr.shape == (4, 32, 32) and arr.dtype == np.uint8
    kept = cache_shards(films, tmp_path / "s", size=32, shard_size=4, workers=1, progress=False, drop_bad=False,
                        verbose=False)
    assert kept.cache_path.isna().sum() == 1 and kept.attrs["cache_stats"]["shards_reused"] == 3


def test_resume_redoes_only_missing_and_changed_shards(films, tmp_path):
    cache = tmp_path / "s"
    first = cache_shards(films, cache, size=32, shard_size=4, workers=1, progress=False, verbose=False)
    shards = _shard_files(cache)
    stamps = {p.name: p.stat().st_mtime_ns for p in shards}
    # an interrupted build: the second shard's index never written, a temporary file left behind
    shards[1].with_suffix(".json").unlink()
    (cache / (shards[2].name + ".999.tmp")).write_bytes(b"half")
    again = cache_shards(films, cache, size=32, shard_size=4, workers=1, progress=False, verbose=False)
    st = again.attrs["cache_stats"]
    assert (st["shards_reused"], st["computed"], st["reused"]) == (2, 3, 7)  # shard 1: f04, f05, f05_bad (bad), f06
    assert {p.name: p.stat().st_mtime_ns for p in _shard_files(cache)}[shards[0].name] == stamps[shards[0].name]
    assert again.cache_path.tolist() == first.cache_path.tolist()
    # a changed source: only its shard is rebuilt, under a new key
    f = films / "f09.png"
    Image.fromarray(np.full((49, 48), 200, np.uint8)).save(f)
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    third = cache_shards(films, cache, size=32, shard_size=4, workers=1, progress=False, verbose=False)
    assert third.attrs["cache_stats"]["shards_reused"] == 2
    ref = third.set_index("path").cache_path[str(f)]
    assert ref != first.set_index("path").cache_path[str(f)]
    np.testing.assert_allclose(read_cached(ref), prepare_cxr(f, 32)[0], atol=0.5 / 255 + 1e-6)


def test_dataloaders_and_levels_read_shards(films, tmp_path):
    df = cache_shards(films, tmp_path / "s", size=32, shard_size=4, workers=1, progress=False, verbose=False)
    frame = use_cached(df.assign(label=["a", "b"] * 5, split=["train"] * 6 + ["valid"] * 4, patient_id=[f"p{i}" for i in range(10)]))
    dls = classification_dls(frame, size=32, bs=3, aug=False, img_cls=PILCachedCXR, num_workers=0)
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (3, 1, 32, 32)
    x = dls.valid_ds[0][0]
    assert np.array_equal(np.asarray(x), (read_cached(frame.cache_path[6]) * 255).round().astype(np.uint8))
    levels = expand_brightness_levels(frame.iloc[:2], tmp_path / "levels", n=2)
    assert len(levels) == 4 and len(set(levels.cache_path)) == 4  # rows of one shard get files of their own
    assert all(Path(p).exists() for p in levels.cache_path)
    assert levels.path.tolist() == [frame.path[0]] * 2 + [frame.path[1]] * 2  # `path` stays the film


def test_bad_arguments(films, tmp_path):
    with pytest.raises(ValueError, match="fixed size"): cache_shards(films, tmp_path / "s", size=None)
    with pytest.raises(ValueError, match="shard_size"): cache_shards(films, tmp_path / "s", shard_size=0)
    with pytest.raises(ValueError, match="dtype"): cache_shards(films, tmp_path / "s", dtype="int8")
    with pytest.raises(IndexError, match="holds"):
        df = cache_shards(films, tmp_path / "s", size=32, shard_size=4, workers=1, progress=False, verbose=False)
        read_cached(df.cache_path[0].rsplit("#", 1)[0] + "#7")
