"""Acceptance tests of model bundles (issue 27): a tiny model trained on phantoms, saved, and used through
`cxr-nb predict` / `cxr-nb evaluate` exactly as the notebook's own `get_preds` sees its films."""
import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

warnings.filterwarnings("ignore", category=FutureWarning)
from fastai.torch_core import set_seed

import cxr_nb.deploy.bundle as B
from cxr_nb.deploy.evaluate import evaluate_bundle
from cxr_nb.deploy.bundle import MANIFEST, load_bundle, save_bundle
from cxr_nb.classify.learner import cxr_learner
from cxr_nb.data.dataloaders import classification_dls
from cxr_nb.data.datasets import load_dataset
from cxr_nb.seg.lung_region import cache_lung_regions
from cxr_nb.evaluate.calibration import apply_temperature
from cxr_nb.evaluate.metrics import binary_report
from cxr_nb.phantom.layouts import write_pneumoconiosis_layout
from cxr_nb.data.cache import PILCachedCXR, cache_images, use_cached
from cxr_nb.cli import main
from cxr_nb.seg.segmenter import train_segmenter
from cxr_nb.data.splits import patient_split
from cxr_nb.data.dataloaders import multilabel_dls
from cxr_nb.evaluate.metrics import per_class_auc
from fastai.losses import BCEWithLogitsLossFlat

SIZE = 64


def _films(root, n, seed, fmt="png"):
    df = load_dataset(write_pneumoconiosis_layout(root, n=n, seed=seed, size=96, fmt=fmt))
    df["binary"] = df["pneumoconiosis"].astype(int)
    return df


def _learner(frame, seed=0):
    set_seed(seed, reproducible=True)
    dls = classification_dls(frame, label_col="binary", size=SIZE, bs=8, aug=False, img_cls=PILCachedCXR,
                             num_workers=0, vocab=[0, 1])
    learn = cxr_learner(dls, "small_cnn", n_in=1, pretrained=False, model_kwargs=dict(widths=(4, 8)))
    with learn.no_bar(), learn.no_logging():
        learn.fit(2, 1e-2)
    return learn


def _get_preds(learn, frame):
    "The notebook's own probabilities of P(class 1) for a cached frame."
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=learn.dls.test_dl(frame))
    return probs[:, 1].numpy()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    "A small_cnn on 48 equalised PNG phantoms (train / valid / test by patient), saved as a bundle."
    tmp = tmp_path_factory.mktemp("bundle")
    df = patient_split(_films(tmp / "films", 48, seed=1), valid_pct=0.25, test_pct=0.25, seed=0, stratify="binary")
    cached = cache_images(df, tmp / "cache", size=SIZE, equalize="hist", progress=False, workers=1, verbose=False)
    frame = use_cached(cached)
    learn = _learner(frame)
    folder = save_bundle(tmp / "bundle", learn, "small_cnn", frame, model_kwargs=dict(widths=(4, 8)),
                         names=["normal", "pneumoconiosis"], label_col="binary")
    return dict(tmp=tmp, frame=frame, learn=learn, folder=folder)


def _tree_hash(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_predict_folder_matches_get_preds(trained, tmp_path, capsys):
    t = trained
    mixed = tmp_path / "input"
    (mixed / "dicom").mkdir(parents=True)
    pngs = t["frame"][t["frame"].split == "test"].path.tolist()[:4]
    for p in pngs: shutil.copy(p, mixed / Path(p).name)
    dicoms = _films(tmp_path / "dicom_films", 4, seed=7, fmt="dicom").path.tolist()
    for p in dicoms: shutil.copy(p, mixed / "dicom" / Path(p).name)
    (mixed / "dicom" / "corrupt.dcm").write_bytes(b"\0" * 200 + b"not a DICOM at all")
    (mixed / "truncated.png").write_bytes(Path(pngs[0]).read_bytes()[:60])
    before = _tree_hash(mixed)
    out = tmp_path / "out" / "results.csv"

    assert main(["predict", str(t["folder"]), str(mixed), "--out", str(out), "--quiet"]) == 0
    res = pd.read_csv(out)
    skipped = pd.read_csv(out.with_name("skipped.csv"))
    assert sorted(Path(p).name for p in skipped.path) == ["corrupt.dcm", "truncated.png"]
    assert skipped.reason.str.len().gt(0).all()
    assert len(res) == 8 and sum(Path(p).suffix == ".dcm" for p in res.path) == 4

    # the notebook's own get_preds on the same films, through the training recipe (cache_images + the learner's dls)
    good = cache_images(pd.DataFrame({"path": res.path}), tmp_path / "cache", size=SIZE, equalize="hist",
                        progress=False, workers=1, verbose=False)
    assert good.path.tolist() == res.path.tolist()
    p_nb = _get_preds(t["learn"], use_cached(good))
    np.testing.assert_allclose(res["raw_prob_pneumoconiosis"], p_nb, atol=1e-5)
    T = json.loads((t["folder"] / "bundle.json").read_text())["calibration"]["temperature"]
    np.testing.assert_allclose(res["prob_pneumoconiosis"], apply_temperature(np.log(np.c_[1 - p_nb, p_nb]), T)[:, 1], atol=1e-5)
    for c in ("decision_p0.5", "decision_sens0.9", "decision_spec0.9"): assert set(res[c]) <= {0, 1}

    assert _tree_hash(mixed) == before  # nothing in INPUT touched
    written = out.read_bytes()
    capsys.readouterr()
    assert main(["predict", str(t["folder"]), str(mixed), "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == written
    assert main(["predict", str(t["folder"]), str(mixed), "--out", str(out), "--quiet", "--force"]) == 0
    other = tmp_path / "out" / "theirs.csv"
    other.write_text("a,b\n")
    assert main(["predict", str(t["folder"]), str(mixed), "--out", str(other), "--quiet", "--force"]) == 2
    assert other.read_text() == "a,b\n"
    assert main(["predict", str(t["folder"]), str(mixed), "--out", str(mixed / "r.csv"), "--quiet"]) == 2
    assert _tree_hash(mixed) == before


def test_predict_single_file_csv_and_overlays(trained, tmp_path):
    t = trained
    films = t["frame"][t["frame"].split == "test"].path.tolist()[:2]
    b = load_bundle(t["folder"])
    one = b.predict(films[0], progress=False)
    assert one.path.tolist() == [films[0]]
    pd.DataFrame({"path": films, "note": ["a", "b"]}).to_csv(tmp_path / "list.csv", index=False)
    ov = tmp_path / "overlays"
    assert main(["predict", str(t["folder"]), str(tmp_path / "list.csv"), "--out", str(tmp_path / "r.csv"),
                 "--overlays", str(ov), "--quiet"]) == 0
    res = pd.read_csv(tmp_path / "r.csv")
    assert res.note.tolist() == ["a", "b"]  # the CSV's own columns kept
    np.testing.assert_allclose(res.prob_normal.iloc[0], one.prob_normal.iloc[0], atol=1e-7)
    assert sorted(p.name for p in ov.glob("*.png")) == sorted(Path(p).name for p in res.overlay)


def test_evaluate_reproduces_held_out_metrics(trained, tmp_path, capsys):
    t = trained
    test = t["frame"][t["frame"].split == "test"]
    p_nb = _get_preds(t["learn"], test)
    rep = binary_report(test.binary.to_numpy(), p_nb, threshold=0.5, n_boot=200, seed=0, groups=test.patient_id.to_numpy())
    test.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "ev"
    assert main(["evaluate", str(t["folder"]), str(tmp_path / "test.csv"), "--out", str(out), "--n-boot", "200", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "AUC" in printed and "by patient" in printed
    tab = pd.read_csv(out / "table.csv").fillna({"operating_point": ""}).set_index(["metric", "operating_point"])
    for ours, theirs in ((("AUC", ""), "auc"), (("sensitivity", "p0.5 (p >= 0.5)"), "recall_tpr"),
                         (("specificity", "p0.5 (p >= 0.5)"), "tnr"), (("accuracy", "p0.5 (p >= 0.5)"), "accuracy")):
        np.testing.assert_allclose(tab.loc[ours, ["value", "ci_low", "ci_high"]].to_numpy(float),
                                   rep.loc[theirs, ["value", "ci_low", "ci_high"]].to_numpy(float), atol=1e-9)
    assert "ECE (10 equal-width bins), calibrated" in tab.index.get_level_values(0)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert json.loads((out / MANIFEST).read_text()).keys() == {"table.csv", "predictions.csv", "skipped.csv", "report.html"}
    # a second evaluation into the same folder is refused
    assert main(["evaluate", str(t["folder"]), str(tmp_path / "test.csv"), "--out", str(out), "--quiet"]) == 2


def test_evaluate_folder_layout(trained, tmp_path):
    root = tmp_path / "films"
    _films(root, 12, seed=11)
    b = load_bundle(trained["folder"])
    ev = evaluate_bundle(b, str(root), label_col="pneumoconiosis", n_boot=0, progress=False)
    assert ev.table.attrs["n"] == 12
    with pytest.raises(ValueError, match="no 'nonsense' column"):
        evaluate_bundle(b, str(root), label_col="nonsense", progress=False)


def test_changed_default_keeps_bundle_settings(trained, monkeypatch):
    "A later version changes preprocessing defaults: the bundle still uses its own settings, and says so."
    t = trained
    films = t["frame"][t["frame"].split == "test"].path.tolist()[:3]
    before = load_bundle(t["folder"]).predict(films, progress=False)
    newer = dict(B.preprocessing_defaults(), equalize="clahe", size=[512, 512])
    monkeypatch.setattr(B, "preprocessing_defaults", lambda: dict(newer))
    with pytest.warns(UserWarning) as rec:
        b = load_bundle(t["folder"])
    msgs = " | ".join(str(w.message) for w in rec)
    assert "default equalize was None" in msgs and "is 'clahe' now: using the bundle's 'hist'" in msgs, msgs
    assert "default size was [256, 256]" in msgs and "using the bundle's [64, 64]" in msgs, msgs
    assert b.preprocessing["equalize"] == "hist" and b.preprocessing["size"] == [64, 64]
    after = b.predict(films, progress=False)
    np.testing.assert_array_equal(after.prob_normal.to_numpy(), before.prob_normal.to_numpy())


def test_tampered_weights_refused(trained, tmp_path):
    bad = Path(shutil.copytree(trained["folder"], tmp_path / "b"))
    data = bytearray((bad / "weights.pt").read_bytes()); data[-10] ^= 1
    (bad / "weights.pt").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="changed or corrupted"):
        load_bundle(bad)


def test_lung_region_bundle_matches_get_preds(tmp_path):
    "A model trained on lung regions: the bundle carries the segmenter and replays cache_lung_regions."
    df = patient_split(_films(tmp_path / "films", 40, seed=1), valid_pct=0.3, seed=0, stratify="binary")
    set_seed(0, reproducible=True)
    seg, _ = train_segmenter(df, structures=("lungs",), size=SIZE, epochs=6, bs=8, lr=1e-2, progress=False, seed=0, width=8)
    lung = cache_lung_regions(seg, df, tmp_path / "cache", mode="crop", margin=0.02, size=SIZE, progress=False)
    frame = use_cached(lung)
    learn = _learner(frame)
    folder = save_bundle(tmp_path / "bundle", learn, "small_cnn", frame, model_kwargs=dict(widths=(4, 8)),
                         segmenter=seg, lung_region="crop", lung_margin=0.02, label_col="binary")
    assert (folder / "segmenter.pt").is_file()
    b = load_bundle(folder)
    assert b.preprocessing["lung_region"] == "crop" and b.preprocessing["lung_margin"] == 0.02
    res = b.predict(frame.path.tolist(), progress=False)
    assert res.path.tolist() == frame.path.tolist()
    np.testing.assert_allclose(res["raw_prob_1"], _get_preds(learn, frame), atol=1e-5)
    assert res.lung_box.tolist() == [" ".join(map(str, bx)) for bx in frame.lung_box]


def test_force_replaces_only_unchanged_own_outputs(trained, tmp_path, capsys):
    "--force replaces a file cxr-nb wrote (its hash in the folder's manifest), never one changed since or not its own."
    t = trained
    film = t["frame"][t["frame"].split == "test"].path.iloc[0]
    out = tmp_path / "results.csv"
    args = ["predict", str(t["folder"]), film, "--out", str(out), "--quiet"]
    assert main(args) == 0
    first = out.read_bytes()
    assert main(args + ["--force"]) == 0 and out.read_bytes() == first  # ours and unchanged: replaced (same films, same bytes)
    out.write_bytes(first + b"# edited by hand\n")
    capsys.readouterr()
    assert main(args + ["--force"]) == 2
    assert "changed since" in capsys.readouterr().err
    assert out.read_bytes() == first + b"# edited by hand\n"
    # evaluate: its own folder is replaced with --force; a table.csv it did not write is not, and nothing else is written
    test = t["frame"][t["frame"].split == "test"]
    test.to_csv(tmp_path / "test.csv", index=False)
    ev = ["evaluate", str(t["folder"]), str(tmp_path / "test.csv"), "--n-boot", "0", "--quiet"]
    assert main(ev + ["--out", str(tmp_path / "ev")]) == 0
    assert main(ev + ["--out", str(tmp_path / "ev")]) == 2
    assert main(ev + ["--out", str(tmp_path / "ev"), "--force"]) == 0
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "table.csv").write_text("mine\n")
    assert main(ev + ["--out", str(tmp_path / "theirs"), "--force"]) == 2
    assert sorted(p.name for p in (tmp_path / "theirs").iterdir()) == ["table.csv"]
    assert (tmp_path / "theirs" / "table.csv").read_text() == "mine\n"


FINDINGS = ["pneumoconiosis", "female", "severe"]


def test_evaluate_multilabel_reproduces_get_preds(trained, tmp_path, capsys):
    "A multi-label (sigmoid) bundle: `cxr-nb evaluate`'s per-label AUCs are those of the learner's own get_preds."
    f = trained["frame"]
    ml = f.assign(pneumoconiosis=f.pneumoconiosis.astype(int), female=(f.sex == "F").astype(int),
                  severe=(f.category.astype(int) >= 2).astype(int))
    set_seed(0, reproducible=True)
    dls = multilabel_dls(ml, labels=FINDINGS, size=SIZE, bs=8, aug=False, img_cls=PILCachedCXR, num_workers=0)
    learn = cxr_learner(dls, "small_cnn", n_in=1, pretrained=False, model_kwargs=dict(widths=(4, 8)),
                        loss_func=BCEWithLogitsLossFlat())
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    folder = save_bundle(tmp_path / "ml_bundle", learn, "small_cnn", ml, model_kwargs=dict(widths=(4, 8)))
    test = ml[ml.split == "test"]
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=learn.dls.test_dl(test))
    expected = per_class_auc(test[FINDINGS].to_numpy(), probs.numpy(), labels=FINDINGS).set_index("label").auc
    test.to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "ev"
    capsys.readouterr()
    assert main(["evaluate", str(folder), str(tmp_path / "test.csv"), "--out", str(out), "--n-boot", "50", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "positives per label" in printed and "by patient" in printed
    tab = pd.read_csv(out / "table.csv")
    auc = tab[tab.metric == "AUC"].set_index("label").value
    np.testing.assert_allclose(auc[FINDINGS].to_numpy(), expected[FINDINGS].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(tab.loc[tab.metric == "mean AUC", "value"].item(), np.nanmean(expected), atol=1e-6)
    for name in FINDINGS:
        assert {"sensitivity", "specificity", "ECE (10 equal-width bins), calibrated", "Brier score, raw"} <= set(tab.metric[tab.label == name])
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 2
    pred = pd.read_csv(out / "predictions.csv")
    assert pred[[f"truth_{n}" for n in FINDINGS]].to_numpy().tolist() == test[FINDINGS].to_numpy().tolist()
    # the label columns missing: refused, naming them, before any film is read or any file written
    test.drop(columns=["female", "severe"]).to_csv(tmp_path / "partial.csv", index=False)
    assert main(["evaluate", str(folder), str(tmp_path / "partial.csv"), "--out", str(tmp_path / "ev2"), "--quiet"]) == 2
    assert "['female', 'severe']" in capsys.readouterr().err
    assert not (tmp_path / "ev2").exists()
    b = load_bundle(folder)
    with pytest.raises(ValueError, match="column 'female' has 1 missing value"):
        evaluate_bundle(b, test.assign(female=[np.nan] + test.female.tolist()[1:]), progress=False)
    with pytest.raises(ValueError, match=r"column 'severe' must hold only 0 and 1, found \[2\]"):
        evaluate_bundle(b, test.assign(severe=2), progress=False)


def test_evaluate_multiclass_one_vs_rest(trained, tmp_path):
    "A softmax bundle over the four ILO categories: one-vs-rest AUC per class and accuracy, on its calibrated probabilities."
    f = trained["frame"]
    set_seed(0, reproducible=True)
    dls = classification_dls(f, label_col="label", size=SIZE, bs=8, aug=False, img_cls=PILCachedCXR, num_workers=0,
                             vocab=[0, 1, 2, 3])
    learn = cxr_learner(dls, "small_cnn", n_in=1, pretrained=False, model_kwargs=dict(widths=(4, 8)))
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    b = load_bundle(save_bundle(tmp_path / "ilo", learn, "small_cnn", f, model_kwargs=dict(widths=(4, 8)), label_col="label"))
    test = f[f.split == "test"]
    with learn.no_bar():
        probs, _ = learn.get_preds(dl=learn.dls.test_dl(test))
    cal = apply_temperature(np.log(probs.numpy()), b.temperature)
    y = test.label.astype(int).to_numpy()
    ev = evaluate_bundle(b, test, n_boot=0, progress=False)
    tab = ev.table.set_index(["label", "metric"]).value
    np.testing.assert_allclose([tab[(n, "AUC (one-vs-rest)")] for n in b.names], per_class_auc(y, cal).auc, atol=1e-6)
    np.testing.assert_allclose(tab[("", "accuracy (most probable class)")], (cal.argmax(1) == y).mean(), atol=1e-12)
    assert ev.table.attrs["task"] == "multi-class"


def test_segmenter_bundle_predict(tmp_path, capsys):
    "A segmenter's bundle: its masks are Segmenter.segment's exactly; areas, boxes, overlays; bad files skipped; INPUT untouched."
    df = _films(tmp_path / "films", 12, seed=1)
    seg, _ = train_segmenter(df, structures=("lungs",), size=SIZE, epochs=4, bs=4, lr=1e-2, progress=False, seed=0,
                             width=4, depth=2, normalisation={"equalize": "hist"})
    with pytest.raises(ValueError, match=r"\['frame'\] describe a classifier"):
        save_bundle(tmp_path / "seg_bundle", seg, frame=df)
    assert not (tmp_path / "seg_bundle").exists()
    folder = save_bundle(tmp_path / "seg_bundle", seg)
    inp = tmp_path / "input"
    (inp / "sub").mkdir(parents=True)
    for i, p in enumerate(df.path.tolist()[:5]):
        shutil.copy(p, (inp if i < 3 else inp / "sub") / Path(p).name)
    (inp / "sub" / "corrupt.png").write_bytes(b"\x89PNG not really a film")
    before = _tree_hash(inp)
    out, ov = tmp_path / "out" / "results.csv", tmp_path / "overlays"
    assert main(["predict", str(folder), str(inp), "--out", str(out), "--overlays", str(ov), "--bs", "16", "--quiet"]) == 0
    res = pd.read_csv(out, keep_default_na=False)
    skipped = pd.read_csv(out.with_name("skipped.csv"))
    assert [Path(p).name for p in skipped.path] == ["corrupt.png"] and skipped.reason.str.len().gt(0).all()
    good = res.path.tolist()
    assert len(good) == 5
    theirs = seg.segment(good, bs=16, progress=False)
    ours = load_bundle(folder).masks(good, bs=16)
    for a, t in zip(ours, theirs):
        assert a.keys() == t.keys()
        for s in t:
            np.testing.assert_array_equal(a[s], t[s])
    assert res.area_px_lungs.tolist() == [int(t["lungs"].sum()) for t in theirs]
    assert min(res.area_px_lungs) > 0
    np.testing.assert_allclose(res.area_frac_lungs, [t["lungs"].mean() for t in theirs], atol=1e-12)
    def box(m):
        ys, xs = np.nonzero(m)
        return f"{xs.min()} {ys.min()} {xs.max() + 1} {ys.max() + 1}"
    assert res.box_lungs.tolist() == [box(t["lungs"]) for t in theirs]
    assert sorted(p.name for p in ov.glob("*.png")) == sorted(Path(p).name for p in res.overlay)
    assert _tree_hash(inp) == before
    capsys.readouterr()
    assert main(["evaluate", str(folder), str(tmp_path / "films"), "--out", str(tmp_path / "ev"), "--quiet"]) == 2
    assert "segmenter bundle" in capsys.readouterr().err


@pytest.mark.parametrize("backbone,backbone_kw,pretrained", [("small_cnn", dict(widths=(4, 8)), False),
                                                          ("efficientnet_lite0", {}, True)])  # the Fang smoke preset's
def test_cxrirnet_bundle_matches_get_preds(tmp_path, backbone, backbone_kw, pretrained):
    "A tiny CXR-IRNet (film + the segmenter's lung mask, three labels, equalised): its bundle's probabilities are get_preds' to 1e-5."
    from scipy.special import expit, logit
    from cxr_nb.seg.lung_region import cache_masks
    from cxr_nb.deploy.prepare import prepare_mask
    from cxr_nb.papers.fang2021 import cxrirnet_learner
    from cxr_nb.classify.runners import predict_rows
    df = patient_split(_films(tmp_path / "films", 40, seed=2), valid_pct=0.25, test_pct=0.25, seed=0, stratify="binary")
    labels = ["pneumoconiosis", "female", "severe"]
    df = df.assign(pneumoconiosis=df.pneumoconiosis.astype(int), female=(df.sex == "F").astype(int),
                   severe=(df.category.astype(int) >= 2).astype(int))
    seg, _ = train_segmenter(df[df.split == "train"], structures=("left_lung", "right_lung"), size=SIZE, epochs=3, bs=4, lr=1e-2,
                             progress=False, seed=0, width=4, depth=2)
    masked = cache_masks(seg, df, tmp_path / "cache", bs=8, progress=False, replace=True)  # the U-Net's masks, not the truth
    cached = use_cached(cache_images(masked, tmp_path / "cache" / "images", size=SIZE, equalize="hist", progress=False,
                                     workers=1, verbose=False))
    train, valid, test = (cached[cached.split == s] for s in ("train", "valid", "test"))
    set_seed(0, reproducible=True)
    learn = cxrirnet_learner(train, valid, 0, labels=labels, structures=seg.structures, size=SIZE, bs=8, backbone=backbone,
                             backbone_kw=backbone_kw, pretrained=pretrained, activation="sigmoid", mask_pooling="fractional",
                             wd=1e-4, attention="released_code", feature_weighting=True)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    with pytest.raises(ValueError, match="reads a mask beside the image"):
        save_bundle(tmp_path / "no_seg", learn, frame=cached)
    folder = save_bundle(tmp_path / "irnet", learn, frame=cached, segmenter=seg)
    b = load_bundle(folder)
    spec = b.spec
    assert spec["architecture"]["arch"] == "cxrirnet" and spec["architecture"]["model_kwargs"]["backbone"] == backbone
    assert spec["architecture"]["model_kwargs"]["backbone_kwargs"] == {k: list(v) for k, v in backbone_kw.items()}
    assert spec["mask_input"] == dict(structures=["left_lung", "right_lung"], size=[SIZE, SIZE], resize_method="pad", pad_mode="zeros")
    assert spec["preprocessing"]["equalize"] == "hist" and spec["preprocessing"]["channels"] == 3
    assert spec["preprocessing"]["normalize"]["mean"] == pytest.approx(list(learn.model.norm_stats[0]), abs=1e-6)  # the weights' own
    assert spec["names"] == labels and len(spec["calibration"]["per_label_temperature"]) == 3
    assert sorted(spec["operating_points"]) == ["0", "1", "2"] and sorted((tmp_path / "irnet").iterdir()) == sorted(
        folder / f for f in ("bundle.json", "segmenter.pt", "weights.pt"))
    # the mask the bundle feeds is the DataLoaders' own, pixel for pixel
    v0 = valid.iloc[0]
    dl_mask = learn.dls.valid.one_batch()[1][0].cpu().numpy()  # after the DataLoaders' Resize and IntToFloatTensor
    assert learn.dls.valid_ds.items.iloc[0].path == v0.path
    np.testing.assert_array_equal(prepare_mask(seg.segment([v0.path], progress=False)[0], b.mask_input), dl_mask)
    probs, _ = predict_rows(learn, test)
    pred = b.predict(test.path.tolist(), progress=False)
    assert pred.path.tolist() == test.path.tolist()
    np.testing.assert_allclose(pred[[f"raw_prob_{n}" for n in labels]].to_numpy(), probs, atol=1e-5)
    np.testing.assert_allclose(pred[[f"prob_{n}" for n in labels]].to_numpy(), expit(logit(probs) / b.temperatures), atol=1e-5)
    for k, n in enumerate(labels):
        th = b.operating_points[str(k)]["p0.5"]["threshold"]
        assert pred[f"decision_{n}_p0.5"].tolist() == (pred[f"prob_{n}"] >= th).astype(int).tolist()
    with pytest.raises(ValueError, match="Grad-CAM of a model that also reads a mask"):
        b.predict(test.path.tolist()[:2], progress=False, overlays=tmp_path / "ov")


def test_chang_segmenter_bundle_boxes(tmp_path, capsys):
    "Chang's opacity U-Net as a segmenter bundle with its box rule: `cxr-nb predict` gives the boxes `score_cases` drew."
    from cxr_nb.phantom.layouts import write_rsna_layout
    from cxr_nb.data.files import write_box_masks
    from cxr_nb.data.dataloaders import seg_arrays
    from cxr_nb.io import read_cxr
    from cxr_nb.papers.chang2022 import area_at, score_cases
    from cxr_nb.deploy.segmentation import box_min_area
    df = load_dataset(write_rsna_layout(tmp_path / "rsna", n=24, seed=3, size=96, positive_frac=0.5))
    df["label"] = df["label"].astype(int)
    df = write_box_masks(df, tmp_path / "box_masks", structure="opacity")
    train, test = df.iloc[:18], df.iloc[18:].reset_index(drop=True)
    seg, _ = train_segmenter(None, structures=("opacity",), size=SIZE, steps=40, bs=6, lr=5e-3, seed=0, progress=False,
                             arrays=seg_arrays(train, ("opacity",), size=SIZE, progress=False), aug=[], schedule="constant", wd=0.,
                             width=4, depth=2, stride=1)
    min_area = 20
    folder = save_bundle(tmp_path / "chang_bundle", seg, boxes=dict(min_area=min_area))
    films = tmp_path / "films"
    films.mkdir()
    for p in test.path: shutil.copy(p, films / Path(p).name)
    out = tmp_path / "boxes.csv"
    assert main(["predict", str(folder), str(films), "--out", str(out), "--quiet"]) == 0
    res = pd.read_csv(out, keep_default_na=False).set_index("path")
    cases = score_cases(seg, [read_cxr(p)[0] for p in test.path], test, min_area)
    for p, c in zip(test.path, cases.itertuples()):
        r = res.loc[str((films / Path(p).name).resolve())]
        assert r.boxes_opacity == ";".join(" ".join(map(str, b)) for b in c.pred_boxes)
        assert r.n_boxes_opacity == c.n_pred_boxes and r.positive_opacity == int(c.n_pred_boxes > 0) == c.pred
        assert r.area_px_opacity >= 0 and r.height == 96
    assert all(box_min_area(s, min_area) == area_at(np.zeros(s), min_area) for s in [(96, 96), (1024, 1024), (60, 80), (8, 8)])
