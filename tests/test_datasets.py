"""cxr_nb.data.datasets: every real set in ../shared/data with its expected counts, tiny fake folders in each
real layout (bad files reported), phantom datasets through the same loaders, and no patient leakage."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import cxr_nb.data.dataloaders as L
import cxr_nb.data.datasets as D
import cxr_nb.data.splits as S
from cxr_nb import vocab as V

# ---------------------------------------------------------------- fake files (written, never read by hand)

def png(path, h=64, w=64, value=100):
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((h, w), value, np.uint8); a[h // 4:h // 2, w // 4:w // 2] = 255 - value
    Image.fromarray(a).save(path)
    return path


def mask(path, h, w, box):
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    a = np.zeros((h, w), np.uint8); x0, y0, x1, y1 = box; a[y0:y1, x0:x1] = 255
    Image.fromarray(a).save(path)
    return path


def dicom(path, h=64, w=64):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset(); ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.Modality = path.stem, "CR"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = h, w, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.random.default_rng(0).integers(0, 255, (h, w), dtype=np.uint8).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def quiet(fn, *a, **k):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*a, **k)
    return out, [str(x.message) for x in w]


# ---------------------------------------------------------------- real sets in ../shared/data

@pytest.mark.shared
def test_real_jsrt(shared_set):
    df = D.load_jsrt(shared_set("jsrt"))
    assert len(df) == 240 and df.patient_id.is_unique
    assert df.attrs["structures"] == list(V.JSRT_STRUCTURES)
    for s in V.JSRT_STRUCTURES:
        assert df[f"mask_{s}"].notna().all() and all(Path(p).exists() for p in df[f"mask_{s}"])
    assert set(df.label) == {0, 1} and (df.height == 512).all()
    lab = L.label_map(df.iloc[0], L.resolve_structures(df, ["left_lung", "right_lung", "heart"]))
    cols = [np.nonzero(lab == i)[1].mean() for i in (1, 2)]
    assert cols[0] > cols[1], "patient's left lung is on the image's right"


@pytest.mark.shared
def test_real_nih(shared_set):
    root = shared_set("nih")
    df = D.load_nih(root)
    assert len(df) == 621 and df.attrs["labels"] == list(V.NIH_FINDINGS)
    assert (df[list(V.NIH_FINDINGS)].sum() > 0).all(), "all 14 findings present"
    nofind = df.findings == "No Finding"
    assert nofind.sum() > 0 and (df.loc[nofind, list(V.NIH_FINDINGS)].sum(axis=1) == 0).all()
    assert sum(len(b) for b in df.boxes) == 12
    # one box rescaled by hand: NIH boxes are in the 1024 x 1024 grid of NIH's PNGs -> 256 px on disk
    bb = pd.read_csv(root / "BBox_List_2017.csv").iloc[0]
    with Image.open(root / "images" / bb.iloc[0]) as im: w, h = im.size
    x, y, bw, bh = (float(v) for v in bb.iloc[2:6])
    row = df[df.image == bb.iloc[0]].iloc[0]
    np.testing.assert_allclose(row.boxes[0], (x * w / 1024, y * h / 1024, (x + bw) * w / 1024, (y + bh) * h / 1024))
    assert all(0 <= v <= 256 for b in df.boxes for box in b for v in box)
    assert set(l for ls in df.box_labels for l in ls) <= set(V.NIH_FINDINGS)
    # the frame is right: every Cardiomegaly box is centred low and mid-chest, where the heart is
    # (rescaled from OriginalImage[Width,Height] instead, they would sit in the upper left)
    card = [b for bs, ls in zip(df.boxes, df.box_labels) for b, l in zip(bs, ls) if l == "Cardiomegaly"]
    assert len(card) == 3
    for x0, y0, x1, y1 in card:
        assert 0.35 * 256 < (x0 + x1) / 2 < 0.7 * 256 and (y0 + y1) / 2 > 0.4 * 256 and x1 - x0 > 0.3 * 256
    orig = D.load_nih(root, box_frame="original")
    e = pd.read_csv(root / "Data_Entry_2017_v2020.csv")
    e = e[e.iloc[:, 0] == bb.iloc[0]].iloc[0]
    np.testing.assert_allclose(orig[orig.image == bb.iloc[0]].iloc[0].boxes[0][:2],
                               (x * w / float(e.iloc[7]), y * h / float(e.iloc[8])))


@pytest.mark.shared
def test_real_kermany(shared_set):
    df = D.load_kermany(shared_set("kermany"))
    assert (df.label == "NORMAL").sum() == 1341 and (df.label == "PNEUMONIA").sum() == 3875
    assert set(df.subtype) == {"normal", "bacteria", "virus"}
    assert (df.patient_id.str.startswith("person") == (df.label == "PNEUMONIA")).all()
    assert df.patient_id.nunique() < len(df), "some children have several images"


@pytest.mark.shared
def test_real_covid_opacity(shared_set):
    df, _ = quiet(D.load_covid_opacity, shared_set("covid_opacity"))
    assert len(df) == 100 and int(df.label.sum()) == 95
    assert df.attrs["structures"] == ["lungs", "heart", "opacity"]
    with_boxes = df.boxes.map(len) > 0
    assert (with_boxes <= (df.label == 1)).all()          # boxes only where the CSV says opacity
    assert with_boxes.sum() >= 90
    # boxes against the mask: every opacity pixel inside a box, every box edge touches the mask
    r = df[with_boxes].iloc[0]
    m = D.read_mask(r.mask_opacity)
    inside = np.zeros_like(m)
    for x0, y0, x1, y1 in r.boxes:
        inside[y0:y1, x0:x1] = True
        assert m[y0:y1, x0:x1].any(axis=0)[[0, -1]].all() and m[y0:y1, x0:x1].any(axis=1)[[0, -1]].all()
    assert not (m & ~inside).any()


@pytest.mark.shared
def test_load_dataset_by_name(shared_set):
    shared_set("jsrt")
    assert D.detect_layout(shared_set("nih")) == "nih"
    assert len(D.load_dataset("jsrt")) == 240


@pytest.mark.shared
def test_real_splits_no_leakage(shared_set):
    nih = D.load_nih(shared_set("nih"))
    s = S.patient_split(nih, valid_pct=0.2, test_pct=0.1, stratify=None, seed=0)
    S.check_no_leakage(s)
    assert set(s.split) == {"train", "valid", "test"}
    ker = D.load_kermany(shared_set("kermany"))
    s = S.patient_split(ker, valid_pct=0.2, test_pct=0.0, seed=0)   # official 'train' only here
    S.check_no_leakage(s)
    assert abs((s[s.split == "valid"].label == "PNEUMONIA").mean() - (ker.label == "PNEUMONIA").mean()) < 0.05
    k = S.patient_kfold(ker, n_splits=10, seed=0)
    S.check_no_leakage(k)
    assert sorted(k.fold.unique()) == list(range(10))
    # an image split (the mistake) does leak, and the check says so
    bad = ker.assign(split=np.where(np.random.default_rng(0).random(len(ker)) < 0.2, "valid", "train"))
    with pytest.raises(S.LeakageError):
        S.check_no_leakage(bad)


# ---------------------------------------------------------------- tiny fake folders in every real layout

def test_fake_rsna(tmp_path):
    for p in ["a", "b", "c"]:
        dicom(tmp_path / "stage_2_train_images" / f"{p}.dcm", 32, 48)
    (tmp_path / "stage_2_train_labels.csv").write_text(
        "patientId,x,y,width,height,Target\na,,,,,0\nb,1,2,3,4,1\nb,10,10,5,5,1\nc,0,0,1,1,1\nd,,,,,0\n")
    (tmp_path / "stage_2_detailed_class_info.csv").write_text(
        "patientId,class\na,Normal\nb,Lung Opacity\nb,Lung Opacity\nc,Lung Opacity\nd,No Lung Opacity / Not Normal\n")
    (tmp_path / "stage_2_train_images" / "c.dcm").write_bytes(b"\x00" * 10)
    df, msgs = quiet(D.load_rsna, tmp_path)
    assert df.patient_id.tolist() == ["a", "b"]
    assert df.boxes[1] == [(1, 2, 4, 6), (10, 10, 15, 15)] and df.label.tolist() == [0, 1]
    assert (df.height == 32).all() and (df.width == 48).all()
    bad = {Path(b["path"]).name: b["reason"] for b in df.attrs["bad"]}
    assert bad["d.dcm"] == "missing" and "c.dcm" in bad
    assert any("1 missing, 1 unreadable" in m for m in msgs)
    kept, _ = quiet(D.load_rsna, tmp_path, on_bad="keep")
    assert len(kept) == 4
    with pytest.raises(FileNotFoundError, match="d.dcm"):
        D.load_rsna(tmp_path, on_bad="raise")


def test_fake_montgomery_shenzhen(tmp_path):
    mc = tmp_path / "MontgomerySet"
    for n in ["MCUCXR_0001_0.png", "MCUCXR_0104_1.png", "MCUCXR_0105_1.png"]:
        png(mc / "CXR_png" / n, 80, 60)
        mask(mc / "ManualMask" / "leftMask" / n, 80, 60, (35, 10, 55, 70))
        mask(mc / "ManualMask" / "rightMask" / n, 80, 60, (5, 10, 25, 70))
    (mc / "ManualMask" / "rightMask" / "MCUCXR_0105_1.png").unlink()
    df, msgs = quiet(D.load_montgomery, mc)
    assert df.label.tolist() == [0, 1, 1] and df.patient_id.tolist() == ["MCUCXR_0001", "MCUCXR_0104", "MCUCXR_0105"]
    assert df.mask_right_lung.isna().tolist() == [False, False, True]
    lab = L.label_map(df.iloc[0], L.resolve_structures(df, ["left_lung", "right_lung"]))
    assert lab.shape == (80, 60) and lab[40, 45] == 1 and lab[40, 15] == 2 and lab[40, 30] == 0
    sz = tmp_path / "ChinaSet"
    png(sz / "CXR_png" / "CHNCXR_0001_0.png"); png(sz / "CXR_png" / "CHNCXR_0400_1.png")
    df = D.load_shenzhen(sz)
    assert df.label.tolist() == [0, 1] and "mask_left_lung" not in df
    with pytest.raises(FileNotFoundError, match="does not exist"):
        D.load_shenzhen(tmp_path / "nowhere")


def test_fake_scr_original(tmp_path):
    for name, fold in [("JPCLN001", "fold1"), ("JPCNN010", "fold2")]:
        f = tmp_path / "All247images" / f"{name}.IMG"; f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"\0" * (2048 * 2048 * 2))
        for s in ["left lung", "right lung", "heart", "left clavicle", "right clavicle"]:
            m = tmp_path / "scr" / fold / "masks" / s / f"{name}.gif"; m.parent.mkdir(parents=True, exist_ok=True)
            a = np.zeros((1024, 1024), np.uint8); a[100:200, 600:700] = 255
            Image.fromarray(a).save(m)
    df, _ = quiet(D.load_jsrt, tmp_path)
    assert df.patient_id.tolist() == ["JPCLN001", "JPCNN010"] and df.label.tolist() == [1, 0]
    assert df.fold.tolist() == [0, 1] and df.attrs["structures"] == list(V.JSRT_STRUCTURES)
    assert (df.height == 2048).all()
    assert D.detect_layout(tmp_path) == "jsrt"
    # SCR masks are 1024 px, the images 2048 px: the label map comes out at the image's size
    lab = L.label_map(df.iloc[0], L.resolve_structures(df, ["lungs", "heart"]))
    assert lab.shape == (2048, 2048) and (lab[200:400, 1200:1400] == 2).all() and (lab == 2).sum() == 200 * 200


def test_fake_pneumoconiosis(tmp_path):
    folders = tmp_path / "folders"
    for c in ["0", "1", "2", "3"]:
        for i in range(2): png(folders / c / f"{c}_{i}.png")
    df, msgs = quiet(D.load_pneumoconiosis, folders)
    assert df.label.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and any("no patient id" in m for m in msgs)
    csvd = tmp_path / "csv"
    for n in ["a", "b", "c", "d"]: png(csvd / "img" / f"{n}.png")
    pd.DataFrame({"file": ["img/a.png", "img/b.png", "img/c.png", "img/missing.png"],
                  "ILO category": ["0/1", "1/0", "2/3", "3/3"], "Patient ID": [7, 7, 8, 9]}).to_csv(csvd / "ilo.csv", index=False)
    df, msgs = quiet(D.load_pneumoconiosis, csvd)
    assert df.label.tolist() == [0, 1, 2] and df.patient_id.tolist() == ["7", "7", "8"]
    assert df.pneumoconiosis.tolist() == [0, 1, 1]
    assert [Path(b["path"]).name for b in df.attrs["bad"]] == ["missing.png"]


def test_fake_nih_download_folders(tmp_path):
    """The full download spreads the PNGs over images_001/images ... images_012/images."""
    for i, n in enumerate(["00000001_000.png", "00000002_000.png"]):
        png(tmp_path / f"images_00{i + 1}" / "images" / n, 128, 128)
    (tmp_path / "Data_Entry_2017.csv").write_text(
        "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
        "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n"
        "00000001_000.png,Hernia|Mass,0,1,50,M,PA,2000,2000,0.14,0.14,\n00000002_000.png,No Finding,0,2,40,F,AP,2000,2000,0.14,0.14,\n")
    (tmp_path / "BBox_List_2017.csv").write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Mass,100,200,300,400,,,\n")
    df = D.load_nih(tmp_path)
    assert df.attrs["bad"] == [] and df.Hernia.tolist() == [1, 0] and df.Mass.tolist() == [1, 0]
    np.testing.assert_allclose(df.boxes[0][0], (12.5, 25, 50, 75))
    assert "split" not in df   # no official lists: no split invented


def test_missing_folder_and_bad_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="Data_Entry"):
        D.load_nih(tmp_path)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nope")):
        D.load_kermany(tmp_path / "nope")


def test_dataloaders_on_fake_jsrt(tmp_path):
    for i in range(8):
        n = f"JPCLN{i:03d}"
        png(tmp_path / "images" / f"{n}.png", 64, 64)
        mask(tmp_path / "masks" / "left_lung" / f"{n}.png", 64, 64, (36, 8, 56, 50))
        mask(tmp_path / "masks" / "right_lung" / f"{n}.png", 64, 64, (8, 8, 28, 50))
        mask(tmp_path / "masks" / "heart" / f"{n}.png", 64, 64, (24, 30, 44, 52))
    df = S.patient_split(D.load_jsrt(tmp_path), valid_pct=0.25, stratify=None)
    dls = L.segmentation_dls(df, size=32, bs=2, num_workers=0, aug=False)
    x, y = dls.one_batch()
    assert x.shape == (2, 3, 32, 32) and y.shape == (2, 32, 32)
    assert set(y.unique().tolist()) == {0, 1, 2, 3} and dls.codes == ["background", "left_lung", "right_lung", "heart"]
    with pytest.raises(ValueError, match="swap left and right"):
        L.segmentation_dls(df, flip=True)
    dls = L.segmentation_dls(df, structures=["lungs", "heart"], flip=True, size=32, bs=2, num_workers=0)
    assert dls.codes == ["background", "lungs", "heart"]
    dls = L.image_mask_dls(df, label_col="label", size=32, bs=2, num_workers=0)
    x, m, t = dls.one_batch()
    assert dls.n_inp == 2 and m.shape == (2, 32, 32) and set(m.unique().tolist()) <= {0, 1}


# ---------------------------------------------------------------- phantoms in each layout, against the generator's truth

@pytest.fixture
def generated(monkeypatch):
    """Every phantom the writers generate during the test, recorded as the generator returned it."""
    phantom = pytest.importorskip("cxr_nb.phantom.layouts")
    calls, orig = [], phantom.make_phantom

    def recording(*a, **k):
        p = orig(*a, **k)
        calls.append(p)
        return p
    monkeypatch.setattr(phantom, "make_phantom", recording)
    return phantom, calls


def match(path, calls):
    """The generated phantom whose image is the one stored at `path` (8-bit rounding apart)."""
    from cxr_nb.io import read_cxr
    img = read_cxr(path, no_window="bits")[0]
    diffs = [np.abs(img - p["image"]).max() if p["image"].shape == img.shape else 9 for p in calls]
    j = int(np.argmin(diffs))
    assert diffs[j] <= 1 / 255 + 1e-4, f"{path} matches no generated phantom"
    return calls[j]


def bbox(m):
    ys, xs = np.nonzero(m)
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_phantom_jsrt_masks_are_the_generators(tmp_path, generated):
    phantom, calls = generated
    df = D.load_jsrt(phantom.write_jsrt_layout(tmp_path / "jsrt", 6, seed=3, size=128))
    assert len(df) == 6 == len(calls) and df.attrs["structures"] == list(V.JSRT_STRUCTURES)
    for _, r in df.iterrows():
        p = match(r.path, calls)
        for s in V.JSRT_STRUCTURES:
            assert (D.read_mask(r[f"mask_{s}"]) == p["masks"][s]).all(), s
        assert r.label == p["labels"].get("Nodule", r.label)
        lab = L.label_map(r, L.resolve_structures(df, ["left_lung", "right_lung", "heart"]))
        assert ((lab == 3) == p["masks"]["heart"]).all()
        assert ((lab == 1) == (p["masks"]["left_lung"] & ~p["masks"]["heart"])).all()


def test_phantom_nih_boxes_and_labels(tmp_path, generated):
    phantom, calls = generated
    root = phantom.write_nih_layout(tmp_path / "nih", 30, seed=4, size=128)
    df, _ = quiet(D.load_nih, root, labels=[f for f in V.NIH_FINDINGS if f in V.PHANTOM_FINDINGS])
    assert len(df) == 30 and "Hernia" not in df
    n_boxes = 0
    for _, r in df.iterrows():
        p = match(r.path, calls)
        for f in df.attrs["labels"]:
            assert r[f] == p["labels"][f], (r.image, f)
        for box, lab in zip(r.boxes, r.box_labels):
            np.testing.assert_allclose(box, p["boxes"][lab][0], atol=0.01)   # 128 -> 1024 -> 128 px
            np.testing.assert_allclose(box, bbox(p["masks"][lab]), atol=0.01)  # box against the finding's mask
            n_boxes += 1
    assert n_boxes > 0
    # patients: images of one patient id were generated from one patient seed, and vice versa
    seeds = df.groupby("patient_id").path.apply(lambda ps: {match(p, calls)["patient_seed"] for p in ps})
    assert (seeds.map(len) == 1).all() and len(set().union(*seeds)) == len(seeds)
    assert df.patient_id.nunique() < len(df)
    S.check_no_leakage(df)   # the writer's official lists are patient-disjoint
    S.check_no_leakage(S.patient_split(df, valid_pct=0.25, stratify=None, seed=1))
    S.check_no_leakage(S.patient_kfold(df, n_splits=3, stratify=None, seed=1))


def test_phantom_rsna_boxes(tmp_path, generated):
    phantom, calls = generated
    df = D.load_rsna(phantom.write_rsna_layout(tmp_path / "rsna", 20, seed=5, size=128, positive_frac=0.6))
    assert len(df) == 20 and "class" in df
    multi = 0
    for _, r in df.iterrows():
        p = match(r.path, calls)
        truth = sorted(tuple(float(v) for v in b) for b in p["boxes"].get("Lung Opacity", []))
        assert sorted(r.boxes) == truth
        assert r.label == int(len(truth) > 0) and (r["class"] == "Lung Opacity") == (r.label == 1)
        for x0, y0, x1, y1 in r.boxes:   # each box is tight on opacity pixels
            m = p["masks"]["Lung Opacity"][int(y0):int(y1), int(x0):int(x1)]
            assert m[:, 0].any() and m[:, -1].any() and m[0].any() and m[-1].any()
        multi += len(r.boxes) > 1
    assert multi > 0, "some patients have two boxes"


def test_phantom_pneumoconiosis_and_kermany(tmp_path, generated):
    phantom, calls = generated
    df = D.load_pneumoconiosis(phantom.write_pneumoconiosis_layout(tmp_path / "pn", 24, seed=6, size=128))
    assert len(df) == 24 and set(df.label) <= {0, 1, 2, 3}
    assert {"left_lung", "right_lung"} <= set(df.attrs["structures"])
    for _, r in df.iterrows():
        p = match(r.path, calls)
        assert r.label == p["ilo_category"] and Path(r.path).parent.name == str(p["ilo_category"])
        assert (D.read_mask(r.mask_left_lung) == p["masks"]["left_lung"]).all()
    assert df.patient_id.nunique() < len(df)
    S.check_no_leakage(S.patient_kfold(df, n_splits=4, stratify=None, seed=0))
    k = D.load_kermany(phantom.write_kermany_layout(tmp_path / "k", 24, seed=7, size=128))
    assert len(k) == 24 and k.patient_id.nunique() < len(k)
    assert ((k.label == "PNEUMONIA") == k.subtype.isin(["bacteria", "virus"])).all()
    S.check_no_leakage(k)   # the writer splits by child
    S.check_no_leakage(S.patient_split(k, valid_pct=0.25, seed=0))


def test_load_phantom_every_layout(tmp_path):
    pytest.importorskip("cxr_nb.phantom.layouts")
    for lay in D.PHANTOM_LAYOUTS:
        df = D.load_phantom(lay, n=8, size=96, root=tmp_path / lay)
        assert len(df) == 8 and df.attrs["bad"] == [] and (df.dataset == f"phantom_{lay}").all()


def test_phantom_manifest_ground_truth(tmp_path):
    """The writers' manifest regenerates each image: loaded masks and boxes equal the regenerated truth."""
    phantom = pytest.importorskip("cxr_nb.phantom.layouts")
    if not hasattr(phantom, "phantom_manifest"):
        pytest.skip("this cxr_nb.phantom.render writes no manifest")
    root = phantom.write_jsrt_layout(tmp_path / "j", 4, seed=8, size=96)
    man = phantom.phantom_manifest(root)
    df = D.load_jsrt(root)
    assert len(man) == len(df) == 4
    for _, r in df.iterrows():
        kw = dict(man[Path(r.path).relative_to(root.resolve()).as_posix()])
        p = phantom.make_phantom(kw.pop("seed"), kw.pop("size"), **kw)
        for s in V.JSRT_STRUCTURES:
            assert (D.read_mask(r[f"mask_{s}"]) == p["masks"][s]).all()
    root = phantom.write_rsna_layout(tmp_path / "r", 8, seed=9, size=96, positive_frac=0.7)
    man = phantom.phantom_manifest(root)
    for _, r in D.load_rsna(root).iterrows():
        kw = dict(man[Path(r.path).relative_to(root.resolve()).as_posix()])
        p = phantom.make_phantom(kw.pop("seed"), kw.pop("size"), **kw)
        assert sorted(r.boxes) == sorted(tuple(float(v) for v in b) for b in p["boxes"].get("Lung Opacity", []))
        m = p["masks"].get("Lung Opacity")   # box against mask: every opacity pixel inside a box
        if m is not None and m.any():
            inside = np.zeros_like(m)
            for x0, y0, x1, y1 in r.boxes: inside[int(y0):int(y1), int(x0):int(x1)] = True
            assert not (m & ~inside).any()
