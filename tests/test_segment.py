"""cxr_nb.segment on real radiographs (JSRT, COVID opacity): arrays, training steps, Segmenter round trip at
each image's own size, post-processing of real masks, boxes, lung regions through the cache. Small and CPU-only."""
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cxr_nb.dataloaders import label_map, resolve_structures
from cxr_nb.datasets import load_covid_opacity, load_jsrt, read_mask
from cxr_nb.boxes import box_iou_matrix, case_positive, mask_to_boxes
from cxr_nb.lung_region import cache_lung_regions
from cxr_nb.segment import (DiceCELoss, Segmenter, dice_score,
                            evaluate_segmenter, memory_seg_dls, postprocess, seg_arrays,
                            seg_learner, seg_model)


@pytest.fixture(scope="module")
def jsrt(shared_set):
    return load_jsrt(shared_set("jsrt"))


@pytest.fixture(scope="module")
def covid(shared_set):
    return load_covid_opacity(shared_set("covid_opacity"))


def test_arrays_real_jsrt(jsrt):
    x, y = seg_arrays(jsrt.iloc[:3], ("lungs", "heart"), size=128, progress=False)
    assert x.shape == (3, 1, 128, 128) and y.shape == (3, 128, 128)
    for lab in y.numpy():
        lungs, heart = (lab == 1).mean(), (lab == 2).mean()
        assert 0.1 < lungs < 0.6, lungs   # two lung fields cover a good part of a PA film
        assert 0.02 < heart < 0.25, heart
    # left/right kept apart: three classes, the left lung (patient's left) on the image's right side
    _, y3 = seg_arrays(jsrt.iloc[:1], ("left_lung", "right_lung", "heart"), size=128, progress=False)
    cols = np.nonzero(y3[0].numpy() == 1)[1]
    assert set(np.unique(y3[0].numpy())) == {0, 1, 2, 3} and cols.mean() > 64


def test_training_steps_reduce_loss_on_real_images(jsrt):
    torch.manual_seed(0)
    x, y = seg_arrays(jsrt.iloc[:4], ("lungs", "heart"), size=64, progress=False)
    dls = memory_seg_dls((x, y), bs=4, aug=[], device="cpu", seed=0)
    learn = seg_learner(dls, ("lungs", "heart"), size=64, width=4, depth=3)
    xb, yb = dls.train.one_batch()
    opt = torch.optim.Adam(learn.model.parameters(), 1e-2)
    losses = []
    for _ in range(12):
        opt.zero_grad(); loss = learn.loss_func(learn.model(xb), yb); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0] and losses[-1] == min(losses), losses


def test_segmenter_roundtrip_own_sizes(jsrt, covid, tmp_path):
    torch.manual_seed(1)
    seg = Segmenter(seg_model("unet", 3, width=4, depth=3), ("lungs", "heart"), size=64, model_kwargs={"width": 4, "depth": 3})
    f = seg.save(tmp_path / "s.pth")
    seg2 = Segmenter.load(f, device="cpu")
    items = [jsrt.path.iloc[0], covid.path.iloc[0], jsrt.path.iloc[1]]
    a, b = seg.label_maps(items, bs=2, progress=False), seg2.label_maps(pd.DataFrame({"path": items}), bs=3, progress=False)
    for u, v in zip(a, b): np.testing.assert_array_equal(u, v)
    assert a[0].shape == (512, 512) and a[1].shape == (256, 256)
    masks = seg2.segment(items[:1], progress=False)[0]
    assert set(masks) == {"lungs", "heart"} and masks["lungs"].dtype == bool


def test_postprocess_keeps_real_masks(jsrt):
    classes = resolve_structures(jsrt, ("lungs", "heart"))
    for _, row in jsrt.iloc[:5].iterrows():
        lab = label_map(row, classes)
        out = postprocess(lab, ["lungs", "heart"])
        for i in (1, 2):   # real annotations are two lungs and one heart: nearly nothing changes
            assert dice_score(out == i, lab == i) > 0.995
        noisy = lab.copy(); noisy[5:15, 5:15] = 2; noisy[250:254, 130:134] = 0
        fixed = postprocess(noisy, ["lungs", "heart"])
        assert (fixed[5:15, 5:15] == 0).all()          # stray heart island removed
        assert dice_score(fixed == 1, lab == 1) >= dice_score(noisy == 1, lab == 1)


def test_boxes_of_real_opacity_masks(covid):
    for _, row in covid.iloc[:10].iterrows():
        m = read_mask(row.mask_opacity)
        boxes = mask_to_boxes(m, min_area=1)
        assert [tuple(b) for b in boxes] == [tuple(b) for b in row.boxes]   # same rule as the loader's boxes
        assert case_positive(boxes) == bool(m.any())
        if boxes: np.testing.assert_allclose(np.diag(box_iou_matrix(boxes, boxes)), 1.0)


class _TruthSegmenter(Segmenter):
    "A Segmenter that returns the annotated label map (to test what is built around the network)."
    def __init__(self, df):
        super().__init__(seg_model("unet", 3, width=4, depth=3), ("lungs", "heart"), size=64)
        self.df = df.set_index("path")
        self.classes = resolve_structures(df, ("lungs", "heart"))
    def label_maps(self, items, bs=8, post=True, progress=True, on_bad="skip"):
        paths = list(items["path"]) if isinstance(items, pd.DataFrame) else list(items)
        return [label_map(self.df.loc[p], self.classes) for p in paths]


def test_lung_regions_through_cache(jsrt, tmp_path):
    rows = jsrt.iloc[:2]
    before = [os.stat(p).st_mtime_ns for p in rows.path]
    seg = _TruthSegmenter(jsrt)
    ev = evaluate_segmenter(seg, rows, progress=False)
    assert (ev.dice_lungs == 1).all() and (ev.dice_heart == 1).all()
    crop = cache_lung_regions(seg, rows, tmp_path / "c", mode="crop", size=128, progress=False, verbose=False)
    zero = cache_lung_regions(seg, rows, tmp_path / "z", mode="zero", margin=0., size=None, progress=False, verbose=False)
    assert len(crop) == 2 and all(Path(p).is_file() for p in crop.cache_path)
    assert np.load(crop.cache_path.iloc[0]).shape == (128, 128)
    z = np.load(zero.cache_path.iloc[0])
    lungs = label_map(jsrt.iloc[0], seg.classes) == 1
    assert z.shape == (512, 512) and (z[~lungs] == 0).all() and z[lungs].mean() > 0
    x0, y0, x1, y1 = crop.lung_box.iloc[0]
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert [os.stat(p).st_mtime_ns for p in rows.path] == before   # sources untouched
