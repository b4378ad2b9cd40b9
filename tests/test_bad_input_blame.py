"""Issue 15, class 4: the message blames what is actually wrong: the argument (not a file), the file (named), the mask
(probed at the same level as the image: `check='decode'` catches a corrupt mask, `on_bad` is honoured for masks)."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cxr_nb.data.datasets as D
from cxr_nb.io import CXRReadError, read_cxr
from cxr_nb.data.cache import cache_images

from badinput import SIZE, WRITERS, quiet


def _jsrt_with_bad_masks(tmp_path):
    "A JSRT phantom folder where one heart mask is cut in half (header fine, pixels not) and one is garbage."
    root = WRITERS["jsrt"](tmp_path / "jsrt", 4, size=SIZE)
    hearts = sorted((root / "masks" / "heart").iterdir())
    data = hearts[0].read_bytes()
    hearts[0].write_bytes(data[: len(data) // 2])
    hearts[1].write_bytes(b"garbage, not a mask")
    return root, hearts


def _warned(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, " ".join(str(x.message) for x in w)


def test_decode_check_catches_a_corrupt_mask(tmp_path):
    root, hearts = _jsrt_with_bad_masks(tmp_path)
    df, msg = _warned(D.load_jsrt, root, check="decode")
    assert len(df) == 4                                               # the images are fine: every row stays
    assert df.mask_heart.isna().sum() == 2 and df.mask_left_lung.notna().all()
    bad = {Path(b["path"]).name: b["reason"] for b in df.attrs["bad"]}
    assert set(bad) == {hearts[0].name, hearts[1].name}
    assert all(r.startswith("unreadable mask (mask_heart)") for r in bad.values())
    assert "2 unreadable mask file(s)" in msg


def test_header_check_catches_the_garbage_mask_only(tmp_path):
    root, hearts = _jsrt_with_bad_masks(tmp_path)
    df = quiet(D.load_jsrt, root)                                       # check='header'
    assert [Path(b["path"]).name for b in df.attrs["bad"]] == [hearts[1].name]


def test_on_bad_is_honoured_for_masks(tmp_path):
    root, hearts = _jsrt_with_bad_masks(tmp_path)
    kept = quiet(D.load_jsrt, root, check="decode", on_bad="keep")
    assert kept.mask_heart.notna().all() and len(kept.attrs["bad"]) == 2
    with pytest.raises(FileNotFoundError, match=rf"jsrt: .*{hearts[0].name}"):
        D.load_jsrt(root, check="decode", on_bad="raise")
    exists = quiet(D.load_jsrt, root, check="exists")                   # 'exists' only asks whether the files are there
    assert exists.attrs["bad"] == []
    df = quiet(D.load_jsrt, root, check="exists")
    hearts[0].unlink()                                                    # a mask that goes missing after loading
    gone = quiet(D.check_images, df, check="exists")
    assert [b["reason"] for b in gone.attrs["bad"]] == ["missing mask (mask_heart)"] and gone.mask_heart.isna().sum() == 1


@pytest.mark.parametrize("kw,msg", [(dict(frame=-1), "frame must be an int >= 0 or None, got -1"),
                                    (dict(frame=1.0), "frame must be an int"), (dict(apply_voi="yes"), "apply_voi must be one of"),
                                    (dict(no_window="auto"), "no_window must be one of")])
def test_read_cxr_blames_the_argument_not_the_file(tmp_path, kw, msg):
    root = WRITERS["jsrt"](tmp_path / "jsrt", 1, size=SIZE)
    f = next((root / "images").iterdir())
    with pytest.raises(ValueError, match=msg) as e:
        read_cxr(f, **kw)
    assert not isinstance(e.value, CXRReadError)
    assert read_cxr(f)[0].shape == (SIZE, SIZE)


def test_frame_out_of_range_blames_the_file(tmp_path):
    root = WRITERS["jsrt"](tmp_path / "jsrt", 1, size=SIZE)
    f = next((root / "images").iterdir())
    with pytest.raises(CXRReadError, match=r"frame=3 out of range: the file has 1 frame"):
        read_cxr(f, frame=3)


def test_cache_images_blames_a_bad_setting_not_every_file(tmp_path):
    root = WRITERS["jsrt"](tmp_path / "jsrt", 3, size=SIZE)
    with pytest.raises(ValueError, match="clahe: clip_limit must be a number > 0"):
        cache_images(root / "images", tmp_path / "c", equalize="clahe", clip_limit=-1, workers=1, progress=False, verbose=False)
    with pytest.raises(ValueError, match="equalize must be None, 'hist' or 'clahe'"):
        cache_images(root / "images", tmp_path / "c", equalize="CLAHE", workers=1, progress=False, verbose=False)
    df = pd.DataFrame({"path": [str(p) for p in sorted((root / "images").iterdir())] + [str(root / "gone.png")]})
    out = cache_images(df, tmp_path / "c", size=16, workers=1, progress=False, verbose=False, drop_bad=False)
    assert out.cache_error.notna().tolist() == [False, False, False, True]
    assert out.attrs["cache_report"] == [(str(root / "gone.png"), "missing file")]


def test_segmenter_blames_its_arguments():
    from cxr_nb.seg.segmenter import Segmenter
    from cxr_nb.seg.nets import seg_model
    seg = Segmenter(seg_model("unet", 2, size=32, width=4, depth=2), ["lungs"], size=32)
    img = np.zeros((40, 40), np.float32)
    with pytest.raises(ValueError, match="Segmenter.label_maps: on_bad must be one of 'skip', 'raise'"):
        seg.label_maps([img], on_bad="drop")
    with pytest.raises(ValueError, match="Segmenter.label_maps: bs must be an int >= 1, got 0"):
        seg.label_maps([img], bs=0)
    with pytest.raises(CXRReadError, match="gone.png: no such file"):
        seg.label_maps(["/nowhere/gone.png"], on_bad="raise", progress=False)


def test_csv_problem_blames_the_csv_not_the_images(tmp_path):
    root = WRITERS["rsna"](tmp_path / "rsna", 3, size=SIZE)
    csv = root / "stage_2_train_labels.csv"
    pd.read_csv(csv).rename(columns={"Target": "target"}).to_csv(csv, index=False)
    with pytest.raises(ValueError) as e:
        D.load_rsna(root)
    assert "stage_2_train_labels.csv" in str(e.value) and ".dcm" not in str(e.value)


def test_check_images_blames_the_frame(tmp_path):
    with pytest.raises(ValueError, match=r"check_images: df has no column\(s\) \['path'\]"):
        D.check_images(pd.DataFrame({"image": ["a.png"]}))
    with pytest.raises(ValueError, match="check_images: on_bad must be one of 'drop', 'keep', 'raise', got 'skip'"):
        D.check_images(pd.DataFrame({"path": []}), on_bad="skip")
