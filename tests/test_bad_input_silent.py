"""Issue 15, class 3: inputs that used to give a wrong result without a word now raise a ValueError naming the
argument, its value and what is allowed (sizes, fractions, counts, columns, hard labels vs scores, enums)."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import cxr_nb.data.datasets as D, cxr_nb.evaluate.metrics as M, cxr_nb.data.splits as S
from cxr_nb.checks import check_fraction, check_int
from cxr_nb.phantom.render import make_phantom
from cxr_nb.phantom.layouts import write_jsrt_layout, write_nih_layout, write_pneumoconiosis_layout
from cxr_nb.data.cache import cache_images, prepare_cxr
from cxr_nb.data.preprocess import clahe, resize_pad

from badinput import SIZE, WRITERS, quiet

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def test_pneumoconiosis_csv_without_category_is_an_error_not_folder_names(tmp_path):
    root = WRITERS["pneumoconiosis"](tmp_path / "pn", 6, size=SIZE)
    t = pd.read_csv(root / "labels.csv")
    t.drop(columns=["ilo_category", "ilo_profusion"]).to_csv(root / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"labels.csv has an image column but no category column.*csv=False"):
        D.load_pneumoconiosis(root)
    with pytest.raises(ValueError, match="labels.csv has an image column but no category column"):
        D.load_dataset(root)   # the layout is still detected, and the loader still refuses
    df = quiet(D.load_pneumoconiosis, root, csv=False)   # asked for explicitly: labels from the class folders
    assert sorted(df.label.unique()) == sorted(int(c) for c in t.ilo_category.unique())
    with pytest.raises(ValueError, match="csv must be a file name in root, None or False"):
        D.load_pneumoconiosis(root, csv=3)


@pytest.mark.parametrize("y_pred", [[0.2, 0.8, 0.6], [0.0, 0.5, 1.0], np.array([0.1, 0.9, 0.7], np.float32), [0, 1, np.nan]])
def test_accuracy_and_confusion_refuse_scores(y_pred):
    with pytest.raises(ValueError, match="accuracy: y_pred must hold class labels"):
        M.accuracy([0, 1, 1], y_pred)
    with pytest.raises(ValueError, match="confusion_matrix: y_pred must hold class labels"):
        M.confusion_matrix([0, 1, 1], y_pred)


@FAST
@given(st.lists(st.floats(0.001, 0.999), min_size=1, max_size=30))
def test_accuracy_never_takes_probabilities(probs):
    p = np.asarray(probs)
    y = (p > 0.5).astype(int)
    if np.all(p == np.round(p)): return
    with pytest.raises(ValueError, match="class labels"):
        M.accuracy(y, p)
    assert M.accuracy(y, (p >= 0.5).astype(int)) == pytest.approx(np.mean(y == (p >= 0.5)))


def test_hard_labels_of_every_kind_still_work():
    assert M.accuracy([0, 1, 1], [0.0, 1.0, 0.0]) == pytest.approx(2 / 3)
    assert M.accuracy(np.array([True, False]), np.array([True, True])) == 0.5
    assert M.accuracy(["a", "b"], ["a", "b"]) == 1.0
    assert M.confusion_matrix([0, 1, 2], [0, 2, 2]).to_numpy().trace() == 2


@pytest.mark.parametrize("fn,kw,msg", [
    (M.roc_auc, {}, "roc_auc: y_score holds 1 NaN"),
    (M.binary_report, dict(n_boot=0), "binary_report: y_score holds 1 NaN"),
    (M.roc_curve, {}, "roc_curve: y_score holds 1 NaN")])
def test_nan_scores_are_refused(fn, kw, msg):
    with pytest.raises(ValueError, match=msg):
        fn([0, 1, 1, 0], [0.1, np.nan, 0.8, 0.3], **kw)


@pytest.mark.parametrize("kw,msg", [(dict(level=95), "level must be a number in"), (dict(level=0), "level must be"),
                                    (dict(n_boot=-1), "n_boot must be an int >= 0"), (dict(n_boot=10.5), "n_boot must be an int"),
                                    (dict(threshold=50), "threshold=50 lies outside"), (dict(threshold=np.nan), "threshold must be")])
def test_binary_report_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        M.binary_report([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3], **{"n_boot": 0, **kw})


def test_bootstrap_and_cv_arguments():
    with pytest.raises(ValueError, match="bootstrap_ci: level must be a number in"):
        M.bootstrap_ci(M.f1, [0, 1], [0, 1], n_boot=5, level=95)
    with pytest.raises(ValueError, match="bootstrap_ci: n_boot must be an int >= 0"):
        M.bootstrap_ci(M.f1, [0, 1], [0, 1], n_boot=-1)
    with pytest.raises(ValueError, match="ddof must be an int >= 0"):
        M.coefficient_of_variation([1, 2], ddof=-1)
    assert M.binary_report([0, 1], [3.0, 7.0], threshold=5, n_boot=0).loc["accuracy", "value"] == 1.0  # raw scores: any threshold


@pytest.mark.parametrize("size", [0, -5, (0, 5), (5, -1), "256", 2.5, (1, 2, 3), True])
def test_sizes_are_refused_everywhere(tmp_path, size):
    img = np.random.default_rng(0).random((40, 50)).astype(np.float32)
    with pytest.raises(ValueError, match="size"):
        resize_pad(img, size)
    with pytest.raises(ValueError, match="size"):
        cache_images([], tmp_path / "c", size=size, progress=False, verbose=False)


def test_cache_images_size_zero_wrote_empty_arrays_before(tmp_path):
    root = write_jsrt_layout(tmp_path / "j", 2, size=SIZE)
    with pytest.raises(ValueError, match="size must be an int >= 1, got 0"):
        cache_images(root / "images", tmp_path / "c", size=0, workers=1, progress=False, verbose=False)
    with pytest.raises(ValueError, match="size must be an int >= 1, got 0"):
        prepare_cxr(next((root / "images").iterdir()), size=0)
    df = cache_images(root / "images", tmp_path / "c", size=(8, 12), workers=1, progress=False, verbose=False)
    assert all(np.load(p).shape == (8, 12) for p in df.cache_path)


@pytest.mark.parametrize("missing", [None, np.nan, "", "nan"])
def test_rows_without_patient_id_do_not_pass_the_leakage_check(missing):
    df = pd.DataFrame({"patient_id": ["a", "a", "b", missing, missing], "split": ["train", "train", "valid", "train", "valid"]})
    with pytest.raises(ValueError, match="check_no_leakage: 2 row"):
        S.check_no_leakage(df)
    big = pd.DataFrame({"patient_id": [str(i) for i in range(20)] + [missing], "label": [i % 2 for i in range(21)]})
    with pytest.raises(ValueError, match="patient_split: 1 row"):
        S.patient_split(big)
    with pytest.raises(ValueError, match="patient_kfold: 1 row"):
        S.patient_kfold(big, n_splits=2)


def test_split_arguments():
    df = pd.DataFrame({"patient_id": [str(i) for i in range(40)], "label": [i % 2 for i in range(40)]})
    for kw, msg in [(dict(valid_pct=-0.1), "valid_pct must be a number in"), (dict(valid_pct=20), "valid_pct must be a number in"),
                    (dict(test_pct=1.2), "test_pct must be"), (dict(valid_pct=0.5, test_pct=0.5), "must be < 1"),
                    (dict(stratify="sex"), "stratify column 'sex' is not in the frame"), (dict(seed=-1), "seed must be")]:
        with pytest.raises(ValueError, match=msg):
            S.patient_split(df, **kw)
    for kw, msg in [(dict(n_splits=1), "n_splits must be an int >= 2"), (dict(n_splits=2.5), "n_splits must be an int"),
                    (dict(stratify="sex"), "stratify column 'sex'")]:
        with pytest.raises(ValueError, match=msg):
            S.patient_kfold(df, **kw)
    assert set(S.patient_split(df.drop(columns="label")).split) == {"train", "valid"}   # default 'label' absent: unstratified
    with pytest.raises(ValueError, match=r"df has no column\(s\) \['patient_id'\]"):
        S.check_no_leakage(df.drop(columns="patient_id").assign(split="train"))
    with pytest.raises(ValueError, match=r"no column\(s\) \['fold'\]"):
        S.check_no_leakage(df.assign(split="train"), ["fold"])


@pytest.mark.parametrize("kw,msg", [(dict(size=0), "size must be an int >= 16"), (dict(size=8), "size must be an int >= 16"),
                                    (dict(ilo_category=4), "ilo_category must be an int in 0..3"),
                                    (dict(ilo_category=1.5), "ilo_category must be"), (dict(n_opacities=-1), "n_opacities must be"),
                                    (dict(view="lateral"), "view must be one of"), (dict(findings="Nodule"), r"use \['Nodule'\]"),
                                    (dict(seed=-1), "seed must be an int >= 0"), (dict(patient_seed=-2), "patient_seed must be")])
def test_make_phantom_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        make_phantom(**kw)


@pytest.mark.parametrize("kw,msg", [(dict(nodule_frac=1.5), "nodule_frac must be a number in"), (dict(nodule_frac=-0.1), "nodule_frac"),
                                    (dict(seed=-1), "seed must be"), (dict(n=2.0), "n must be an int >= 1, got 2.0")])
def test_writer_fractions_and_counts(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg):
        write_jsrt_layout(tmp_path / "j", **{"n": 2, "size": SIZE, **kw})


def test_other_writer_arguments(tmp_path):
    for w, kw, msg in [(write_pneumoconiosis_layout, dict(weights=(0, 0, 0, 0)), "weights must be 4 non-negative"),
                       (write_pneumoconiosis_layout, dict(weights=(1, 1)), "weights must be 4"),
                       (write_pneumoconiosis_layout, dict(repeat=2), "repeat must be a number in"),
                       (WRITERS["rsna"], dict(positive_frac=1.1), "positive_frac must be"),
                       (write_nih_layout, dict(test_frac=-1), "test_frac must be"),
                       (write_nih_layout, dict(original_size=0), "original_size must be an int >= 1"),
                       (WRITERS["kermany"], dict(pneumonia_frac=3), "pneumonia_frac must be")]:
        with pytest.raises(ValueError, match=msg):
            w(tmp_path / "x", 2, size=SIZE, **kw)
    assert not (tmp_path / "x").exists()


def test_nih_labels_and_box_frame(tmp_path):
    root = write_nih_layout(tmp_path / "nih", 4, size=SIZE)
    with pytest.raises(ValueError, match=r"load_nih: labels \['Nodules'\] are not NIH findings"):
        D.load_nih(root, labels=["Nodules"])   # a typo would have been a column of zeros
    for bf in (0, -1024, "1024px"):
        with pytest.raises(ValueError, match="box_frame must be a number > 0"):
            D.load_nih(root, box_frame=bf)
    assert list(quiet(D.load_nih, root, labels="Mass").attrs["labels"]) == ["Mass"]


def test_image_operation_arguments():
    from cxr_nb.seg.lung_region import lung_region
    img = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    for kw, msg in [(dict(clip_limit=0), "clip_limit must be a number > 0"), (dict(clip_limit=-1), "clip_limit"),
                    (dict(tile_grid=(0, 8)), "tile_grid must be an int >= 1"), (dict(tile_grid=8), "tile_grid must be")]:
        with pytest.raises(ValueError, match=msg):
            clahe(img, **kw)
    with pytest.raises(ValueError, match="lung_region: margin must be a number in"):
        lung_region(img, np.ones((32, 32), bool), "zero", margin=-1)


@FAST
@given(st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=3)))
def test_check_int_and_fraction_accept_exactly_what_they_say(v):
    ok_int = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    if ok_int: assert check_int(v, "n", 1) == v
    else:
        with pytest.raises(ValueError, match=r"n must be an int >= 1, got "):
            check_int(v, "n", 1)
    ok_frac = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and 0 <= v <= 1
    if ok_frac: assert check_fraction(v, "p") == float(v)
    else:
        with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\], got "):
            check_fraction(v, "p")
