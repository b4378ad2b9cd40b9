"""One run on two processes (DDP through Accelerate and fastai.distributed, gloo on the CPU) gives the held-out
predictions of one process on the same seed and data.

Full-batch training makes the two exactly comparable: one process takes all 32 training images per step;
two processes take 16 each and DDP averages their gradients, which is the same mean gradient. What differs is
only the order of float additions, so the held-out probabilities agree to 1e-4 (stated tolerance) after
5 epochs, and accuracy and AUC with them."""
import warnings

import numpy as np
import pandas as pd
import pytest
import torch.nn as nn
from PIL import Image
from fastai.data.block import CategoryBlock, DataBlock
from fastai.data.transforms import ColReader, IndexSplitter
from fastai.learner import Learner
from fastai.optimizer import SGD
from fastai.vision.core import PILImageBW
from fastai.vision.data import ImageBlock
from sklearn.metrics import roc_auc_score

from cxr_nb.classify.runners import run_folds, run_trials

TOL = 1e-4  # held-out probabilities, one process vs two


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("toy")
    rng = np.random.default_rng(0)
    recs = []
    for i in range(48):
        y = int(i % 3 == 0)
        a = (rng.random((12, 12)) * 120).astype(np.uint8)
        if y: a[3:9, 3:9] += 100
        Image.fromarray(a).save(d / f"img{i}.png")
        recs.append(dict(path=str(d / f"img{i}.png"), patient_id=f"p{i}", label=["normal", "sick"][y], fold=int(i >= 32)))
    return pd.DataFrame(recs)


def make_build(bs):
    def build(train_df, valid_df, seed):
        both = pd.concat([train_df, valid_df]).reset_index(drop=True)
        dblock = DataBlock(blocks=(ImageBlock(PILImageBW), CategoryBlock), get_x=ColReader("path"),
                           get_y=ColReader("label"), splitter=IndexSplitter(range(len(train_df), len(both))))
        dls = dblock.dataloaders(both, bs=bs, num_workers=0, device="cpu")
        model = nn.Sequential(nn.Flatten(), nn.Linear(144, 8), nn.ReLU(), nn.Linear(8, 2))  # no batch norm
        return Learner(dls, model, opt_func=SGD, lr=0.05)
    return build


def fit(learn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        learn.fit(5, 0.05)


def test_two_processes_match_one(toy):
    one = run_folds(toy, make_build(32), fit=fit, folds=[1], seed=3, processes=1)
    two = run_folds(toy, make_build(16), fit=fit, folds=[1], seed=3, processes=2)  # bs per process: 2 x 16 = 32
    cols = ["prob_normal", "prob_sick"]
    assert len(two.predictions) == 16 and two.predictions.row.tolist() == one.predictions.row.tolist()
    # training moved the predictions: the comparison is not between two untrained models
    assert np.abs(one.predictions.prob_sick - 0.5).max() > 0.05
    np.testing.assert_allclose(two.predictions[cols].to_numpy(), one.predictions[cols].to_numpy(), atol=TOL)
    for r in (one, two): assert r.epoch_probs[1].shape == (5, 16, 2)
    np.testing.assert_allclose(two.epoch_probs[1], one.epoch_probs[1], atol=TOL)
    np.testing.assert_allclose(two.history.valid_loss, one.history.valid_loss, atol=TOL)
    y = one.predictions.target.to_numpy()
    acc = [float((r.predictions.pred.to_numpy() == y).mean()) for r in (one, two)]
    auc = [roc_auc_score(y, r.predictions.prob_sick) for r in (one, two)]
    assert acc[0] == acc[1] and auc[1] == pytest.approx(auc[0], abs=TOL)
    # the learner handed back carries the weights trained on two processes
    probs, _ = two.learner.get_preds(dl=two.learner.dls.test_dl(toy[toy.fold == 1], with_labels=True))
    np.testing.assert_allclose(probs.numpy(), two.predictions[cols].to_numpy(), atol=1e-6)


def test_spawned_processes_get_the_notebooks_functions_by_value(toy, monkeypatch):
    "The path taken when CUDA is already initialised in the notebook: spawned processes, functions cloudpickled."
    one = run_folds(toy, make_build(32), fit=fit, folds=[1], seed=3, processes=1)
    epochs = 5
    def local_fit(learn):  # a closure, as a notebook's fit would be: plain pickle could not send it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            learn.fit(epochs, 0.05)
    monkeypatch.setenv("CXR_NB_START_METHOD", "spawn")
    two = run_folds(toy, make_build(16), fit=local_fit, folds=[1], seed=3, processes=2)
    cols = ["prob_normal", "prob_sick"]
    np.testing.assert_allclose(two.predictions[cols].to_numpy(), one.predictions[cols].to_numpy(), atol=TOL)


def test_a_failing_launched_run_is_reported(toy):
    def bad(train_df, valid_df, seed):
        if seed == 1: raise RuntimeError("deliberate failure")
        return make_build(16)(train_df, valid_df, seed)
    res = run_trials(toy[toy.fold == 0], toy[toy.fold == 1], bad, seeds=[0, 1], fit=fit, processes=2, on_error="collect")
    assert res.failures.trial.tolist() == [1]
    assert sorted(res.predictions.trial.unique()) == [0]


def test_processes_is_checked(toy, monkeypatch):
    with pytest.raises(ValueError, match="processes"):
        run_folds(toy, make_build(16), processes=0)
    with pytest.raises(ValueError, match="precision"):
        run_folds(toy, make_build(16), precision="fp8")
    monkeypatch.setenv("CXR_NB_PROCESSES", "two")
    with pytest.raises(ValueError, match="CXR_NB_PROCESSES"):
        run_folds(toy, make_build(16))
