"""cxr_nb.evaluate.plots on real data: figures are drawn from real images and masks and show what they should."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from cxr_nb.evaluate.metrics import confusion_matrix
from cxr_nb.evaluate.plots import plot_confusion_matrix, plot_history, plot_overlay, plot_roc


@pytest.mark.shared
def test_overlay_real_jsrt(shared_set, tmp_path):
    from PIL import Image
    root = shared_set("jsrt")
    name = sorted((root / "images").glob("*.png"))[0].name
    img = np.asarray(Image.open(root / "images" / name).convert("L"), dtype=np.float32) / 255
    masks = {s: np.array(Image.open(root / "masks" / s / name)) > 127 for s in ("left_lung", "right_lung", "heart")}
    fig = plot_overlay(img, cam=masks["heart"].astype(float), masks=masks, true_boxes=[(10, 10, 60, 60)])
    ax = fig.axes[0]
    assert len(ax.images) == 2 and len(ax.patches) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["left_lung", "right_lung", "heart", "true box"]
    fig.savefig(tmp_path / "overlay.png")
    assert (tmp_path / "overlay.png").stat().st_size > 10_000


def test_confusion_and_roc_content():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 200)
    s = t + rng.normal(0, 1, 200)
    fig = plot_confusion_matrix(t, (s > 0.5).astype(int), classes=["normal", "pneumonia"], normalize="count")
    counts = sorted(int(x.get_text()) for x in fig.axes[0].texts)
    assert counts == sorted(confusion_matrix(t, (s > 0.5).astype(int)).values.ravel().tolist())
    fig = plot_roc((t, s), n_boot=50)
    xs, ys = fig.axes[0].lines[1].get_data()
    assert xs[0] == 0 and ys[-1] == 1 and np.trapezoid(ys, xs) > 0.6   # not a diagonal


def test_history_runs_and_errors():
    import pandas as pd
    h = pd.DataFrame(dict(trial=np.repeat([0, 1], 5), epoch=np.tile(range(5), 2), train_loss=np.linspace(1, 0.1, 10),
                          valid_loss=np.linspace(1.1, 0.3, 10), f1=np.linspace(0.5, 0.9, 10)))
    fig = plot_history(h)
    assert "over 2 runs" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="'epoch'"):
        plot_history(h.drop(columns="epoch"))
