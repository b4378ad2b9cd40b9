"""Issue 15, class 1: no function of the package overwrites or deletes a file it did not create in the same call.

Writers refuse a non-empty folder (before writing anything), single-file writers refuse an existing file,
and every batch operation (loaders, caching, segmentation of a folder) leaves its source folder byte for
byte as it was (hashed before and after)."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxr_nb.data.datasets as D
from cxr_nb.checks import check_new_file, fresh_dir
from cxr_nb.data.cache import cache_images, expand_brightness_levels, use_cached

from badinput import SIZE, WRITERS, folder_hash, quiet, user_folder


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_writer_refuses_a_users_folder(tmp_path, layout):
    root = user_folder(tmp_path / "mine")
    before = folder_hash(root)
    with pytest.raises(FileExistsError, match=rf"write_{layout}_layout: .*mine is not empty"):
        WRITERS[layout](root, 3, size=SIZE)
    assert folder_hash(root) == before


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_writer_refuses_a_folder_with_one_hidden_file(tmp_path, layout):
    root = tmp_path / "x"; root.mkdir(); (root / ".keep").write_text("")
    with pytest.raises(FileExistsError, match=r"\.keep"):
        WRITERS[layout](root, 2, size=SIZE)
    assert [p.name for p in root.iterdir()] == [".keep"]


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_writer_refuses_a_file_as_root(tmp_path, layout):
    f = tmp_path / "notes.txt"; f.write_text("mine")
    with pytest.raises(NotADirectoryError, match="notes.txt is a file"):
        WRITERS[layout](f, 2, size=SIZE)
    with pytest.raises(NotADirectoryError, match="notes.txt is a file"):
        WRITERS[layout](f / "sub", 2, size=SIZE)
    assert f.read_text() == "mine"


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_writer_accepts_new_and_empty_folders(tmp_path, layout):
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "empty", tmp_path / "new" / "deeper"):
        out = WRITERS[layout](root, 2, size=SIZE)
        assert Path(out) == root and (root / "phantom_manifest.csv").exists()


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_refused_arguments_create_nothing(tmp_path, layout):
    with pytest.raises(ValueError):
        WRITERS[layout](tmp_path / "new", 0, size=SIZE)
    assert not (tmp_path / "new").exists()


def test_load_phantom_refuses_a_users_folder_and_reuses_its_own(tmp_path):
    root = user_folder(tmp_path / "mine")
    before = folder_hash(root)
    with pytest.raises(FileExistsError, match="is not empty"):
        D.load_phantom("jsrt", n=3, root=root, size=SIZE)
    assert folder_hash(root) == before
    df = D.load_phantom("jsrt", n=3, root=tmp_path / "ph", size=SIZE)
    own = folder_hash(tmp_path / "ph")
    df2 = D.load_phantom("jsrt", n=3, root=tmp_path / "ph", size=SIZE)   # the same phantoms: reused, not rewritten
    assert folder_hash(tmp_path / "ph") == own and df.path.tolist() == df2.path.tolist()
    with pytest.raises(FileExistsError, match="holds no phantoms with"):   # other phantoms: refused, not replaced
        D.load_phantom("jsrt", n=4, root=tmp_path / "ph", size=SIZE)
    assert folder_hash(tmp_path / "ph") == own


@pytest.mark.parametrize("layout", sorted(WRITERS))
def test_loaders_leave_the_folder_unchanged(tmp_path, layout):
    root = WRITERS[layout](tmp_path / layout, 6, size=SIZE)
    before = folder_hash(root)
    df = quiet(D.load_dataset, root, check="decode")
    assert len(df) > 0 and folder_hash(root) == before


def test_cache_images_leaves_sources_unchanged_and_never_writes_beside_them(tmp_path):
    root = WRITERS["jsrt"](tmp_path / "jsrt", 4, size=SIZE)
    (root / "images" / "broken.png").write_bytes(b"not an image")
    before = folder_hash(root)
    df = cache_images(root / "images", tmp_path / "cache", size=16, workers=1, progress=False, verbose=False)
    assert len(df) == 4 and df.attrs["cache_stats"]["bad"] == 1
    assert folder_hash(root) == before
    cached = folder_hash(tmp_path / "cache")
    cache_images(root / "images", tmp_path / "cache", size=16, workers=1, progress=False, verbose=False)  # reused
    assert folder_hash(tmp_path / "cache") == cached
    levels = expand_brightness_levels(use_cached(df), tmp_path / "levels", n=2)
    assert len(levels) == 8 and folder_hash(tmp_path / "cache") == cached and folder_hash(root) == before


def test_cache_images_refuses_a_file_as_cache_dir(tmp_path):
    f = tmp_path / "cache"; f.write_text("mine")
    with pytest.raises(NotADirectoryError, match="cache_dir .*cache is a file"):
        cache_images([], f, progress=False, verbose=False)
    assert f.read_text() == "mine"


def _untrained_segmenter():
    from cxr_nb.seg.segmenter import Segmenter
    from cxr_nb.seg.nets import seg_model
    return Segmenter(seg_model("unet", 2, size=32, width=4, depth=2), ["lungs"], size=32)


def test_segmenting_a_folder_leaves_it_unchanged(tmp_path):
    root = WRITERS["jsrt"](tmp_path / "jsrt", 3, size=SIZE)
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    before = folder_hash(root)
    seg = _untrained_segmenter()
    items = sorted(str(p) for p in (root / "images").iterdir())
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = seg.segment(items, bs=2, progress=False)
    assert [o is None for o in out] == [p.endswith("broken.png") for p in items]
    assert any("broken.png" in str(x.message) for x in w)
    assert folder_hash(root) == before


def test_cache_lung_regions_leaves_sources_unchanged(tmp_path):
    from cxr_nb.seg.lung_region import cache_lung_regions
    root = WRITERS["jsrt"](tmp_path / "jsrt", 3, size=SIZE)
    before = folder_hash(root)
    df = quiet(D.load_jsrt, root)
    quiet(cache_lung_regions, _untrained_segmenter(), df, tmp_path / "lung_cache", size=16, progress=False, verbose=False)
    assert folder_hash(root) == before


def test_segmenter_save_refuses_an_existing_file(tmp_path):
    seg = _untrained_segmenter()
    f = tmp_path / "models" / "unet.pt"
    seg.save(f)
    first = f.read_bytes()
    with pytest.raises(FileExistsError, match="unet.pt already exists; pass overwrite=True"):
        seg.save(f)
    assert f.read_bytes() == first
    seg.save(f, overwrite=True)
    mine = tmp_path / "notes.txt"; mine.write_text("mine")
    with pytest.raises(FileExistsError):
        seg.save(mine)
    assert mine.read_text() == "mine"
    with pytest.raises(IsADirectoryError):
        seg.save(tmp_path / "models")


def test_fresh_dir_and_check_new_file_rules(tmp_path):
    assert fresh_dir(tmp_path / "a" / "b").is_dir()
    (tmp_path / "a" / "b" / "x").write_text("1")
    with pytest.raises(FileExistsError, match=r"1 entry, e.g. \['x'\]"):
        fresh_dir(tmp_path / "a" / "b")
    with pytest.raises(FileExistsError, match="is not empty"):
        fresh_dir(tmp_path / "a")
    assert check_new_file(tmp_path / "new" / "f.pt") == tmp_path / "new" / "f.pt"
    with pytest.raises(NotADirectoryError):
        check_new_file(tmp_path / "a" / "b" / "x" / "f.pt")


def test_cli_out_pointing_at_a_file_leaves_it_alone(tmp_path, capsys):
    from cxr_nb.cli import main
    f = tmp_path / "results.txt"; f.write_text("mine")
    assert main(["run", "yang2021", "--out", str(f)]) == 2
    assert main(["run", "yang2021", "--out", str(f / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(l.startswith("cxr-nb: yang2021: --out") and "is a file" in l for l in err)
    assert f.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]
