"""Issue 15, class 2: what used to crash inside pandas, PIL or torch is now a clear error naming the file or argument."""
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest

import cxr_nb.data.datasets as D
from cxr_nb.io import CXRReadError, read_cxr

from badinput import SIZE, WRITERS, quiet


def _png(path, w, h):
    chunk = lambda k, d: struct.pack(">I", len(d)) + k + d + struct.pack(">I", zlib.crc32(k + d))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    return Path(path)


@pytest.mark.parametrize("w,h", [(100000, 100000), (30000, 20000), (60000, 60000)])
def test_png_header_with_absurd_size_names_the_file(tmp_path, w, h):
    f = _png(tmp_path / "giant.png", w, h)
    with pytest.raises(CXRReadError, match="giant.png: the image header declares more pixels") as e:
        read_cxr(f)
    assert e.value.path == f


@pytest.mark.parametrize("col", ["patientId", "x", "y", "width", "height", "Target"])
def test_rsna_labels_without_a_column(tmp_path, col):
    root = WRITERS["rsna"](tmp_path / "rsna", 3, size=SIZE)
    csv = root / "stage_2_train_labels.csv"
    pd.read_csv(csv).drop(columns=col).to_csv(csv, index=False)
    with pytest.raises(ValueError, match=rf"RSNA pneumonia: .*stage_2_train_labels.csv has no column\(s\) \['{col}'\]"):
        D.load_rsna(root)


def test_rsna_class_csv_without_class_and_empty_labels(tmp_path):
    root = WRITERS["rsna"](tmp_path / "rsna", 3, size=SIZE)
    (root / "stage_2_detailed_class_info.csv").write_text("patientId,kind\na,b\n")
    with pytest.raises(ValueError, match=r"stage_2_detailed_class_info.csv has no column\(s\) \['class'\]"):
        D.load_rsna(root)
    (root / "stage_2_train_labels.csv").write_text("")
    with pytest.raises(ValueError, match="stage_2_train_labels.csv is empty"):
        D.load_rsna(root)


@pytest.mark.parametrize("content,msg", [("Image Index,Finding Labels\nx.png,Mass\n", "has 2 column"),
                                         ("", "is empty"),
                                         ("a,b,c,d,e,f,g,h,i\nx.png,Mass,0,1,50,M,PA,wide,tall\n", "columns 8-9 must be OriginalImage")])
def test_nih_data_entry_problems_name_the_file(tmp_path, content, msg):
    root = WRITERS["nih"](tmp_path / "nih", 4, size=SIZE)
    (root / "Data_Entry_2017_v2020.csv").write_text(content)
    with pytest.raises(ValueError, match=rf"Data_Entry_2017_v2020.csv.*{msg}|{msg}.*"):
        D.load_nih(root)


def test_nih_bbox_with_too_few_columns(tmp_path):
    root = WRITERS["nih"](tmp_path / "nih", 4, size=SIZE)
    (root / "BBox_List_2017.csv").write_text("Image Index,Finding Label\nx.png,Mass\n")
    with pytest.raises(ValueError, match=r"BBox_List_2017.csv has 2 column\(s\), expected at least 6"):
        quiet(D.load_nih, root)


def test_jsrt_and_covid_csvs_without_their_columns(tmp_path):
    root = WRITERS["jsrt"](tmp_path / "jsrt", 3, size=SIZE)
    (root / "jsrt.csv").write_text("image,has_nodule\nPHCLN0001,1\n")
    with pytest.raises(ValueError, match=r"jsrt.csv has no column\(s\) \['nodule'\]"):
        quiet(D.load_jsrt, root)
    cov = tmp_path / "cov"
    (cov / "images").mkdir(parents=True); (cov / "masks" / "opacity").mkdir(parents=True)
    (cov / "covid_opacity.csv").write_text("name,has_opacity\nx,1\n")
    with pytest.raises(ValueError, match=r"covid_opacity.csv has no column\(s\) \['image'\]"):
        D.load_covid_opacity(cov)


def test_pneumoconiosis_unreadable_and_missing_csv(tmp_path):
    root = WRITERS["pneumoconiosis"](tmp_path / "pn", 4, size=SIZE)
    (root / "labels.csv").write_bytes(b"")
    with pytest.raises(ValueError, match="labels.csv is empty"):
        D.load_pneumoconiosis(root)
    with pytest.raises(FileNotFoundError, match="other.csv: no such file"):
        D.load_pneumoconiosis(root, csv="other.csv")


@pytest.mark.parametrize("kw,msg", [(dict(n=0), "n must be an int >= 1, got 0"), (dict(n=-3), "n must be an int >= 1"),
                                    (dict(n=2.5), "n must be an int >= 1, got 2.5"), (dict(size=0), "size must be an int >= 16"),
                                    (dict(seed=-1), "seed must be an int >= 0"), (dict(check="fast"), "check must be one of"),
                                    (dict(on_bad="skip"), "on_bad must be one of")])
def test_load_phantom_arguments(tmp_path, kw, msg):
    with pytest.raises(ValueError, match=msg):
        D.load_phantom("jsrt", root=tmp_path / "ph", **{"n": 2, "size": SIZE, **kw})
    assert not (tmp_path / "ph").exists()


@pytest.mark.parametrize("argv,msg", [(["run", "nope"], "unknown paper 'nope'"),
                                      (["run", "yang2021", "-p", "nope", "1"], "unknown parameter(s) nope"),
                                      (["run", "yang2021", "--preset", "huge"], "unknown preset 'huge'"),
                                      (["run", "yang2021", "-p", "epochs", "many"], "parameter 'epochs' expects")])
def test_cli_user_mistakes_are_one_line_and_status_2(tmp_path, capsys, argv, msg):
    from cxr_nb.cli import main
    assert main(argv + ["--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cxr-nb: ") and msg in err[0], err
    assert not (tmp_path / "runs").exists()


def test_default_loaders_and_learner_fit_together(tmp_path):
    "The obvious three lines: a loader, classification_dls(df), cxr_learner(dls, 'resnet18') give a working model."
    import torch
    from cxr_nb.classify.learner import cxr_learner
    from cxr_nb.data.dataloaders import classification_dls
    from cxr_nb.io import PILCXR
    df = quiet(D.load_phantom, "jsrt", n=8, root=tmp_path / "ph", size=SIZE)
    dls = quiet(classification_dls, df, size=SIZE, bs=4, num_workers=0)
    learn = quiet(cxr_learner, dls, "resnet18", pretrained=False)
    xb, _ = dls.one_batch()
    assert xb.shape[1] == 3 and learn.model(xb).shape == (4, 2)
    with pytest.raises(ValueError, match="cxr_learner: n_in=1 but the DataLoaders give 3-channel images"):
        cxr_learner(dls, "resnet18", n_in=1, pretrained=False)
    dls1 = quiet(classification_dls, df, size=SIZE, bs=4, num_workers=0, img_cls=PILCXR)
    learn1 = quiet(cxr_learner, dls1, "small_cnn")
    assert learn1.model(dls1.one_batch()[0]).shape == (4, 2)


@pytest.mark.parametrize("kw,msg", [(dict(label_col="diagnosis"), r"classification_dls: df has no column\(s\) \['diagnosis'\]"),
                                    (dict(size=0), "classification_dls: size must be an int >= 1"),
                                    (dict(bs=0), "classification_dls: bs must be an int >= 1")])
def test_dataloader_arguments(tmp_path, kw, msg):
    from cxr_nb.data.dataloaders import classification_dls
    df = quiet(D.load_phantom, "jsrt", n=4, root=tmp_path / "ph", size=SIZE)
    with pytest.raises(ValueError, match=msg):
        classification_dls(df, num_workers=0, **kw)


def test_loader_pointed_at_a_file(tmp_path):
    f = tmp_path / "data.csv"; f.write_text("x")
    for loader in (D.load_jsrt, D.load_rsna, D.load_nih, D.load_kermany, D.load_pneumoconiosis, D.load_covid_opacity):
        with pytest.raises(NotADirectoryError, match="data.csv is a file, not a folder"):
            loader(f)


def test_png_header_that_lies_about_a_small_size_is_a_truncated_file(tmp_path):
    f = _png(tmp_path / "long.png", 200000, 1)   # under Pillow's limit: the (missing) pixels are the problem
    with pytest.raises(CXRReadError, match="long.png: corrupt or truncated png file"):
        read_cxr(f)
