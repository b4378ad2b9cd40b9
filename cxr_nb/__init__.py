"""Jupyter-first chest X-ray deep learning: four papers reproduced as notebooks that export into a library

Modules:

- `cxr_nb.datasets`: One DataFrame per dataset, whatever its folder layout; splits that never put one patient on both sides; fastai DataLoaders for segmentation, classification and image + mask models.
- `cxr_nb.experiment`: One road for every paper notebook: the parameters cell read once, the data chosen and described, a segmenter trained or loaded by its settings, folds and trials that keep what the figures need, and the tables and files a run leaves behind.
- `cxr_nb.interpret`: What does the network look at? First-layer feature maps, CAM and Grad-CAM heat maps, boxes drawn from them, their overlap with ground-truth boxes, and the share of attention inside the lungs.
- `cxr_nb.io`: One function, `read_cxr`, turns any chest radiograph a hospital or a public data set hands you (DICOM, compressed DICOM, 8- or 16-bit PNG, JPEG, TIFF) into the same thing: a float32 array in [0, 1] where bone is bright and air is dark, plus a small metadata dictionary.
- `cxr_nb.metrics`: Every number the four papers report, with a 95% confidence interval, and a table that puts the published value beside ours.
- `cxr_nb.plots`: The figures of the four papers: confusion matrices, ROC curves with their AUC and CI, training curves, first-layer feature maps, and heat maps, masks and boxes drawn over a radiograph.
- `cxr_nb.segment`: Two U-Nets behind one builder, Dice losses and metrics per structure, post-processing, a saved `Segmenter`, lung regions for the classifiers, and masks turned into boxes."""

__version__ = "0.0.1"
