"""cxr_nb.evaluate.interpret end to end: a small CNN trained to find a blob is explained by CAM/Grad-CAM boxes that
overlap the blob; real JSRT masks give the expected boxes and energy shares."""
import numpy as np
import pytest
import torch
from torch import nn

from cxr_nb.boxes import box_iou
from cxr_nb.evaluate.interpret import cam, cam_energy_in_mask, cam_to_box, grad_cam, localization_accuracy


def _blob_batch(rng, n, size=32, r=4):
    "Noise images; half hold a bright square of side 2r at a random place. Returns x, y, boxes."
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    y = rng.integers(0, 2, n)
    boxes = []
    for i in range(n):
        cx, cy = rng.integers(r, size - r, 2)
        box = (int(cx - r), int(cy - r), int(cx + r), int(cy + r))
        if y[i]:
            x[i, 0, box[1]:box[3], box[0]:box[2]] += 1.5
        boxes.append(box if y[i] else None)
    return torch.from_numpy(x), torch.from_numpy(y), boxes


@pytest.mark.slow
def test_trained_cam_finds_the_blob():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 2))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(80):
        x, y, _ = _blob_batch(rng, 32, size=24)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
    x, y, boxes = _blob_batch(rng, 64, size=24)
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9
    pos = [i for i in range(64) if y[i]]
    preds_cam = [cam_to_box(cam(model, x[i], target=1, layer=model[3]), 0.5) for i in pos]
    preds_gc = [cam_to_box(grad_cam(model, x[i], target=1, layer=model[3]), 0.5) for i in pos]
    trues = [boxes[i] for i in pos]
    la = localization_accuracy(preds_cam, trues, thresholds=(0.3,))
    assert la.loc["all", "IoU>0.3"] > 0.8
    assert np.mean([box_iou(a, b) for a, b in zip(preds_cam, preds_gc)]) > 0.8


@pytest.mark.shared
def test_real_jsrt_masks(shared_set):
    from PIL import Image
    root = shared_set("jsrt")
    name = sorted((root / "masks" / "heart").glob("*.png"))[0].name
    heart = np.array(Image.open(root / "masks" / "heart" / name)) > 127
    lungs = (np.array(Image.open(root / "masks" / "left_lung" / name)) > 127) | \
            (np.array(Image.open(root / "masks" / "right_lung" / name)) > 127)
    ys, xs = np.nonzero(heart)
    # the heart mask as a "map": its box is the mask's bounding box (one connected component)
    assert cam_to_box(heart.astype(float), 0.5) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert cam_energy_in_mask(lungs.astype(float), lungs) == 1.0
    assert cam_energy_in_mask(heart.astype(float), lungs) < 0.1   # heart and lungs barely overlap
    assert cam_energy_in_mask(np.ones(lungs.shape), lungs) == pytest.approx(lungs.mean())


def test_project_architectures():
    "CAM/Grad-CAM on cxr_nb.classify.learner's DenseNet-BC and CXR-IRNet (image + mask), randomly initialised."
    from cxr_nb.classify.nets import CXRIRNet, densenet40
    torch.manual_seed(0)
    dn = densenet40(growth_rate=4, n_in=1, n_out=2).eval()
    x = torch.rand(1, 1, 64, 64)
    c, g = cam(dn, x, target=1), grad_cam(dn, x, target=1)
    assert c.shape == g.shape == (64, 64)
    np.testing.assert_allclose(c, g, atol=1e-4)   # GAP + linear head: Grad-CAM is CAM
    net = CXRIRNet(n_out=14, pretrained=False).eval()
    img = torch.rand(1, 1, 96, 96)
    mask = torch.zeros(1, 1, 96, 96)
    mask[..., 20:80, 10:86] = 1
    # the mask weighting is CXR-IRNet's last spatial layer (F_l): CAM is exact with feature weighting on (cam checks
    # that the raw map's mean plus the bias is the logit); an output whose raw map has positive evidence somewhere
    k = next(k for k in range(14) if cam(net, (img, mask), target=k, normalize=False).max() > 0)
    m = grad_cam(net, (img, mask), target=k)
    assert m.shape == (96, 96) and np.isfinite(m).all() and m.max() == pytest.approx(1.0)
    c = cam(net, (img, mask), target=k)
    assert c.shape == (96, 96) and np.isfinite(c).all() and c.max() == pytest.approx(1.0)
    np.testing.assert_allclose(c, m, atol=1e-4)   # GAP + linear after F_l: Grad-CAM is CAM
