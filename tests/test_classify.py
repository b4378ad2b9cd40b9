"""cxr_nb.classify.learner on real Kermany radiographs: batch control on the library's DataLoaders, held-out predictions."""
import numpy as np
import pandas as pd
import pytest
import torch

from cxr_nb.classify.learner import batch_control_dls, model_learner, weighted_ce_loss
from cxr_nb.classify.nets import small_cnn
from cxr_nb.classify.runners import run_folds
from cxr_nb.data.dataloaders import classification_dls
from cxr_nb.data.datasets import load_kermany
from cxr_nb.data.splits import patient_kfold, patient_split

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def kermany_small(shared_set):
    df = load_kermany(shared_set("kermany"))
    # 30 pneumonia and 30 normal images, the first of each label in file order
    small = df.groupby("label", group_keys=False).head(30).reset_index(drop=True)
    return patient_split(small, valid_pct=0.25, seed=0)


def test_batch_control_on_classification_dls(kermany_small):
    dls = classification_dls(kermany_small, size=64, bs=8, num_workers=0, aug=False)
    n_pneu = int((kermany_small[kermany_small.split == "train"].label == "PNEUMONIA").sum())
    for k in (1, 4, 7):
        bc = batch_control_dls(dls, k=k, steps=3, seed=0)
        # labels read from the fastai Datasets: PNEUMONIA is the last vocab entry, the positive class
        assert int(bc.train.labels.sum()) == n_pneu
        counts = [int(yb.sum()) for _, yb in bc.train]
        assert counts == [k] * 3
        assert all(xb.shape == (8, 3, 64, 64) for xb, _ in bc.train)


def test_run_folds_on_real_images(kermany_small):
    df = patient_kfold(kermany_small.drop(columns=["split"]), n_splits=3, seed=0)

    def build(train_df, valid_df, seed):
        both = pd.concat([train_df, valid_df])
        dls = classification_dls(both, size=48, bs=8, num_workers=0, aug=False, valid_fold=int(valid_df.fold.iloc[0]))
        y = (train_df.label == "PNEUMONIA").astype(int).to_numpy()
        return model_learner(dls, small_cnn(n_in=3, widths=(4, 8)), loss_func=weighted_ce_loss(y, n=2))

    res = run_folds(df, build, fit=lambda l: l.fit(1, 1e-2), keep=("patient_id",))
    assert len(res.failures) == 0
    assert len(res.predictions) == len(df)  # every image held out exactly once
    assert sorted(res.predictions.row) == sorted(df.index)
    probs = res.predictions[[f"prob_{v}" for v in res.vocab]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    truth = (df.loc[res.predictions.row, "label"] == "PNEUMONIA").astype(int).to_numpy()
    assert (res.predictions.target.to_numpy() == truth).all()
    assert len(res.history) == df.fold.nunique()
