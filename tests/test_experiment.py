"""The paper kit end to end on a few phantoms and a tiny CNN: data choice, cached inputs, folds with per-epoch
predictions, the epoch window, an ablation table and the saved results."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from fastai.metrics import accuracy as fastai_accuracy

from cxr_nb.classify.learner import cxr_learner
from cxr_nb.classify.runners import run_folds
from cxr_nb.data.dataloaders import classification_dls
from cxr_nb.data.splits import patient_kfold
from cxr_nb.papers.kit import (Run, choose_data, save_run_results, start_run)
from cxr_nb.papers.results import (ablation_table, epoch_window, epoch_window_accuracy, held_out)
from cxr_nb.evaluate.metrics import paper_vs_run
from cxr_nb.data.cache import PILCachedCXR, cache_images, expand_brightness_levels, use_cached


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    nb = out / "p.ipynb"
    import nbformat
    book = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('preset = "smoke"\nepochs = 3\nseed = 0\ndevice = "cpu"\nout_dir = None')
    cell.metadata["tags"] = ["parameters"]
    book.cells = [cell]
    nbformat.write(book, nb)
    run = start_run("tiny", dict(preset="smoke", epochs=3, seed=0, device="cpu", out_dir=str(out)), notebook=nb,
                    verbose=False)
    choice = choose_data("phantom", "pneumoconiosis", run.out, n_images=24, seed=0, stratify="label", phantom_size=128)
    df = patient_kfold(choice.df.assign(binary=choice.df.pneumoconiosis.astype(int)), n_splits=2, stratify="binary", seed=0)
    cached = cache_images(df, run.out / "cache", size=64, progress=False, workers=1)
    frame = use_cached(cached)
    return run, choice, frame


def _cv(run, frame, levels=None, folds=None):
    def build(train_df, valid_df, seed):
        if levels is not None: train_df = levels.loc[train_df.index]
        dls = classification_dls(pd.concat([train_df, valid_df]), label_col="binary", size=64, bs=8,
                                 valid_fold=int(valid_df.fold.iloc[0]), aug=False, img_cls=PILCachedCXR,
                                 num_workers=0, seed=seed, vocab=[0, 1], device=run.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cxr_learner(dls, "small_cnn", n_in=1, pretrained="auto", metrics=fastai_accuracy,
                               model_kwargs=dict(widths=(4, 8)))
    return run_folds(frame, build, fit=lambda l: l.fit(run["epochs"], 1e-2), folds=folds, seed=0)


def test_folds_keep_every_epoch_and_the_last_learner(tiny_run):
    run, choice, frame = tiny_run
    res = _cv(run, frame)
    assert sorted(res.epoch_probs) == [0, 1]
    for f, probs in res.epoch_probs.items():
        n_valid = int((frame.fold == f).sum())
        assert probs.shape == (3, n_valid, 2)
        np.testing.assert_allclose(probs[-1], res.predictions[res.predictions.fold == f][["prob_0", "prob_1"]], atol=1e-3)
    assert res.learner is not None
    first, last = epoch_window(3)
    acc = epoch_window_accuracy(res, first, last, n_boot=20, seed=0)
    assert 0.0 <= acc.low <= acc.value <= acc.high <= 1.0
    # the pooled accuracy is the mean of the per-epoch held-out accuracies in the window
    y = res.predictions.target.to_numpy()
    per_epoch = [np.mean(np.concatenate([res.epoch_probs[f][e].argmax(1) for f in (0, 1)]) == y) for e in range(first - 1, last)]
    assert acc.value == pytest.approx(np.mean(per_epoch))
    h = held_out(res)
    assert len(h.y) == len(frame) and set(h.groups) == set(frame.patient_id)


def test_brightness_expansion_trains_on_every_level(tiny_run):
    run, choice, frame = tiny_run
    levels = expand_brightness_levels(frame, run.out / "levels", n=8)
    res = _cv(run, frame, levels=levels, folds=[0])
    n_train = int((frame.fold != 0).sum())
    assert len(res.learner.dls.train_ds) == 8 * n_train
    assert len(res.predictions) == int((frame.fold == 0).sum())  # validation images are the originals, once each


def test_ablation_and_saved_results(tiny_run):
    run, choice, frame = tiny_run
    a, b = _cv(run, frame, folds=[0]), _cv(run, frame.assign(binary=frame.binary.sample(frac=1, random_state=0).to_numpy()), folds=[0])
    table, curves, groups = ablation_table({"labels": a, "shuffled labels": b}, runs=[0], n_boot=20)
    assert list(table.index) == ["labels", "shuffled labels"] and set(curves) == set(groups)
    run.lap("training")
    f = save_run_results(run, paper_vs_run([dict(metric="AUC", published=0.9, ours=table.auc.iloc[0])]),
                         {"target": choice}, tables={"ablation": table})
    m = json.loads(f.read_text())
    assert m["data"]["target"]["n_images"] == len(choice.df) and m["data"]["target"]["fingerprint"]["files"] > 0
    assert m["tables"]["ablation"][1]["variant"] == "shuffled labels" and "training" in m["seconds"]
    assert isinstance(run, Run) and m["params"]["epochs"] == 3
