"""Phantom datasets written in the real layouts, read back through the real loaders, checked against the generator."""
import csv

import cv2
import numpy as np
import pytest

from cxr_nb.phantom.render import make_phantom
from cxr_nb.phantom.layouts import (phantom_manifest, write_jsrt_layout, write_kermany_layout, write_nih_layout,
                                    write_pneumoconiosis_layout, write_rsna_layout)
from cxr_nb.vocab import JSRT_STRUCTURES, PHANTOM_FINDINGS

datasets = pytest.importorskip("cxr_nb.data.datasets")


def _mask(path):
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127


def test_jsrt_layout_masks_are_the_generator_masks(tmp_path):
    root = write_jsrt_layout(tmp_path, 6, seed=3, size=64)
    df = datasets.load_jsrt(root)
    assert len(df) == 6
    man = phantom_manifest(root)
    for _, r in df.iterrows():
        truth = make_phantom(**man[f"images/{r.path.split('/')[-1]}"])["masks"]
        for s in JSRT_STRUCTURES:
            assert (_mask(r[f"mask_{s}"]) == truth[s]).all(), (r.path, s)
        assert not (truth["left_lung"] & truth["heart"]).any()


def test_nih_layout_boxes_contain_their_finding_masks(tmp_path):
    root = write_nih_layout(tmp_path, 30, seed=1, size=64, finding_frac=0.8, bbox_frac=1.0)
    df = datasets.load_nih(root, labels=list(PHANTOM_FINDINGS))
    assert len(df) == 30
    assert set(df.attrs["labels"]) == set(PHANTOM_FINDINGS)     # unsimulated findings are absent columns
    assert "Hernia" not in df.columns and "Edema" not in df.columns
    man = phantom_manifest(root)
    rows = list(csv.reader(open(root / "BBox_List_2017.csv")))[1:]
    assert rows, "expected some boxes"
    for name, finding, x, y, w, h, _ in rows:
        m = make_phantom(**man[f"images/{name}"])["masks"][finding]
        x0, y0 = float(x) * 64 / 1024, float(y) * 64 / 1024
        x1, y1 = x0 + float(w) * 64 / 1024, y0 + float(h) * 64 / 1024
        assert m[int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1))].sum() == m.sum() > 0
    tv = set((root / "train_val_list.txt").read_text().split())
    te = set((root / "test_list.txt").read_text().split())
    pid = dict(zip(df.path.map(lambda p: p.split("/")[-1]), df.patient_id))
    assert not {pid[n] for n in tv} & {pid[n] for n in te}
    assert df.patient_id.value_counts().max() > 1           # some patients have several images


def test_rsna_layout_boxes_match_opacities(tmp_path):
    root = write_rsna_layout(tmp_path, 12, seed=2, size=64, positive_frac=0.6)
    df = datasets.load_rsna(root)
    assert len(df) == 12
    man = phantom_manifest(root)
    n_pos = 0
    for _, r in df.iterrows():
        p = make_phantom(**man[f"stage_2_train_images/{r.path.split('/')[-1]}"])
        truth = p["boxes"].get("Lung Opacity", [])
        assert len(r.boxes) == len(truth)
        assert sorted(tuple(map(int, b)) for b in r.boxes) == sorted(truth)
        n_pos += bool(truth)
    assert 1 <= n_pos < 12


def test_kermany_and_pneumoconiosis_layouts(tmp_path):
    df = datasets.load_kermany(write_kermany_layout(tmp_path / "k", 20, seed=0, size=64))
    assert len(df) == 20
    sides = df.groupby("patient_id").split.nunique()
    assert (sides == 1).all()                               # train/test are patient-disjoint
    root = write_pneumoconiosis_layout(tmp_path / "p", 16, seed=0, size=64)
    rows = list(csv.DictReader(open(root / "labels.csv")))
    assert len(rows) == 16
    man = phantom_manifest(root)
    for r in rows:
        assert man[r["image"]]["ilo_category"] == int(r["ilo_category"])
        assert make_phantom(**man[r["image"]])["ilo_profusion"] == r["ilo_profusion"]


def test_ilo_profusion_grows_with_category_and_1_2_overlap():
    area = [[make_phantom(s, size=128, ilo_category=c)["masks"]["small_opacities"].sum() for s in range(12)]
            for c in range(4)]
    mean = [np.mean(a) for a in area]
    assert mean[0] < mean[1] < mean[2] < mean[3]
    assert mean[0] < 0.5 * mean[1]
    assert max(area[1]) > min(area[2])      # categories 1 and 2 overlap, as between readers
