"""cxr_nb.evaluate.metrics beyond the notebook's cells: agreement with scikit-learn over many random cases,
the bootstrap interval's coverage, and per-class AUROC on the real NIH label table."""
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from cxr_nb.evaluate.metrics import (binary_report, bootstrap_ci, confusion_matrix, f1, macro_auc, per_class_auc,
                            precision, recall, roc_auc, tnr)


@pytest.mark.parametrize("seed", range(10))
def test_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 500))
    t = rng.integers(0, 2, n)
    s = np.round(t * rng.random() * 2 + rng.normal(0, 1, n), int(rng.integers(0, 3)))  # with ties
    p = (s > 0.5).astype(int)
    assert roc_auc(t, s) == pytest.approx(skm.roc_auc_score(t, s))
    assert f1(t, p) == pytest.approx(skm.f1_score(t, p))
    assert precision(t, p) == pytest.approx(skm.precision_score(t, p))
    assert recall(t, p) == pytest.approx(skm.recall_score(t, p))
    assert tnr(t, p) == pytest.approx(skm.recall_score(t, p, pos_label=0))
    k = int(rng.integers(2, 6))
    tk, pk = rng.integers(0, k, n), rng.integers(0, k, n)
    np.testing.assert_array_equal(confusion_matrix(tk, pk, n_classes=k).values,
                                  skm.confusion_matrix(tk, pk, labels=range(k)))


def test_bootstrap_coverage():
    "Over 80 simulated test sets of a classifier with true AUC 0.76, the 95% CI covers it about 95% of the time."
    rng = np.random.default_rng(0)
    from scipy.stats import norm
    true_auc = norm.cdf(1.0 / np.sqrt(2))  # two unit-variance normals 1 SD apart
    hits = 0
    for _ in range(80):
        t = rng.integers(0, 2, 200)
        s = t * 1.0 + rng.normal(0, 1, 200)
        ci = bootstrap_ci(roc_auc, t, s, n_boot=150, seed=int(rng.integers(1 << 30)), stratify=True)
        hits += ci.low <= true_auc <= ci.high
    assert 0.85 <= hits / 80 <= 1.0


def test_binary_report_patient_level_wider():
    rng = np.random.default_rng(1)
    pid = np.repeat(np.arange(50), 6)
    y = np.repeat(rng.integers(0, 2, 50), 6)
    s = np.repeat(y[::6] + rng.normal(0, 1, 50), 6) + rng.normal(0, 0.05, 300)
    img = binary_report(y, s, n_boot=200)
    pat = binary_report(y, s, n_boot=200, groups=pid)
    assert (pat.value == img.value).all()
    assert ((pat.ci_high - pat.ci_low) > (img.ci_high - img.ci_low)).all()


@pytest.mark.shared
def test_per_class_auc_on_nih_labels(shared_set):
    "On the real NIH label table: 14 rows, counts match the table, rare findings in a small subset flagged."
    root = shared_set("nih")
    df = pd.read_csv(root / "Data_Entry_2017_v2020.csv")
    labels = ["Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
              "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural_Thickening", "Hernia"]
    Y = np.stack([df["Finding Labels"].str.split("|").map(lambda f, l=l: l in f) for l in labels], 1).astype(int)
    rng = np.random.default_rng(0)
    S = Y * 0.5 + rng.random(Y.shape)
    pc = per_class_auc(Y, S, labels)
    assert len(pc) == 14
    np.testing.assert_array_equal(pc.n_pos.values, Y.sum(0))
    defined = pc.defined.values
    np.testing.assert_allclose(pc.auc[defined], [skm.roc_auc_score(Y[:, j], S[:, j]) for j in np.flatnonzero(defined)])
    # a subset without the rarest finding (as a small test split can be): NaN + flagged, never dropped or zero
    rare = int(np.argmin(Y.sum(0)))
    keep = np.flatnonzero(Y[:, rare] == 0)[:80]
    sub = per_class_auc(Y[keep], S[keep], labels)
    absent = Y[keep].sum(0) == 0
    assert absent[rare] and len(sub) == 14
    assert sub.auc[absent].isna().all() and not sub.defined[absent].any()
    m, n = macro_auc(Y[keep], S[keep], labels)
    assert n == 14 - absent.sum() and m == pytest.approx(sub.auc[~absent].mean())
