"""Jupyter-first chest X-ray deep learning: paper reproductions as notebooks that export into a library

Modules:

- `cxr_nb.boxes`: Box arithmetic in one place: every box is `(x0, y0, x1, y1)` in pixels, x1/y1 exclusive.
- `cxr_nb.checks`: One home for the checks every public function runs before it does anything: an argument out of range, a CSV without the column a loader needs, an output folder that already holds a user's files.
- `cxr_nb.classify.learner`: Losses and samplers that regulate sensitivity on imbalanced chest X-ray sets, operating points, and learner builders for the networks of `cxr_nb.classify.nets`.
- `cxr_nb.course.exercises`: Three to five exercises per paper notebook, each with a check a student runs in the notebook: `check("yang2021", 3, answer, y=hb.y, prob=hb.prob)`.
- `cxr_nb.course.map`: Which library notebooks to read before which paper, the learning goals of each, their run time on a 2-core CPU and on a GPU, and what to change to go from the smoke preset to the paper's settings.
- `cxr_nb.course.student`: Copies the course notebooks into a new folder (never into one that holds files; nothing overwritten) and says how to open them in JupyterLab.
- `cxr_nb.data.dataloaders`: DataBlocks for segmentation, classification, multi-label and image + mask models, with augmentation that respects anatomy.
- `cxr_nb.data.datasets`: One DataFrame per dataset, whatever its folder layout, with the files checked before training.
- `cxr_nb.data.preprocess`: Windowing, histogram equalisation (global and CLAHE, optionally inside a lung mask), aspect-preserving resize with padding and the brightness levels of Yang et al.; `cxr_nb.data.cache` runs them once per film into an on-disk cache.
- `cxr_nb.data.splits`: Patient-level train/valid/test splits and cross-validation folds, and the check that no patient leaks across them.
- `cxr_nb.deploy.bundle`: One folder per trained model (weights, architecture, the complete preprocessing, labels, temperature, operating points chosen on validation, and where it came from), loaded with what differs said, and predicting new films exactly as the training cache prepared its own.
- `cxr_nb.deploy.commands`: A saved bundle on a folder of films (one row per film, bad files skipped with their reason) and on a labelled set (the table and an HTML report), from the command line: outputs claimed before any work, never inside INPUT, never over a file `cxr-nb` did not write.
- `cxr_nb.deploy.evaluate`: The report the paper notebooks print (AUC, sensitivity and specificity at the bundle's saved operating points, calibration), with bootstrap CIs by patient, for a saved bundle on any labelled set (per label for a multi-label bundle, one-vs-rest per class for a multi-class one); and the same as a small HTML page.
- `cxr_nb.deploy.prepare`: Every setting that turns a film into a bundled network's input (read from the functions that apply them), one film through it as the training cache prepared its own, the lung+heart mask a mask-taking classifier (CXR-IRNet) reads, and the network rebuilt from its recorded architecture.
- `cxr_nb.deploy.segmentation`: A saved segmenter on a folder of films: one row per film with, per structure, its area (pixels and fraction of the film) and its bounding box, the boxes of the box rule saved with it (a paper's smallest region), and optional mask overlays as PNGs.
- `cxr_nb.evaluate.interpret`: What does the network look at? First-layer feature maps, CAM and Grad-CAM heat maps, boxes drawn from them, their overlap with ground-truth boxes, and the share of attention inside the lungs.
- `cxr_nb.evaluate.metrics`: Every number the four papers report, with a 95% confidence interval, and a table that puts the published value beside ours.
- `cxr_nb.evaluate.plots`: The figures of the four papers: confusion matrices, ROC curves with their AUC and CI, training curves, first-layer feature maps, and heat maps, masks and boxes drawn over a radiograph.
- `cxr_nb.explore.run_widgets`: The batch control explorer and the prediction browser: how a training run drew its batches, where its schemes landed on the TPR-FPR plane, and which held-out cases its model got most wrong; each falls back to a static figure where no live kernel draws widgets (papermill runs, HTML exports).
- `cxr_nb.explore.widgets`: Interactive explorers for JupyterLab, each one line in a notebook: a radiograph viewer and an operating point explorer; each falls back to a static figure where no live kernel draws widgets (papermill runs, HTML exports).
- `cxr_nb.io`: One function, `read_cxr`, turns any chest radiograph a hospital or a public data set hands you (DICOM, compressed DICOM, 8- or 16-bit PNG, JPEG, TIFF) into the same thing: a float32 array in [0, 1] where bone is bright and air is dark, plus a small metadata dictionary.
- `cxr_nb.papers.chang2022`: The published settings and numbers of Chang & Huang 2022, and the helpers its notebook (`nbs/papers/chang2022_batch_control.ipynb`) uses, each tested here on phantoms or tiny arrays.
- `cxr_nb.papers.fang2021`: The published settings and numbers of Fang et al. (CXR-IRNet), and the helpers its notebook (`nbs/papers/fang2021_lung_heart.ipynb`) uses, each tested here on phantoms or tiny arrays.
- `cxr_nb.papers.hao2021`: The published settings and numbers of Hao et al. 2021, and the helpers its notebook (`nbs/papers/hao2021_balanced_cnn.ipynb`) uses, each tested here on phantoms or tiny arrays.
- `cxr_nb.papers.kit`: One road for every paper notebook: the parameters cell read once, the data chosen and described, a segmenter trained or loaded by its settings, folds and trials that keep what the figures need, and the tables and files a run leaves behind.
- `cxr_nb.papers.parameters`: A notebook's parameters cell read without running it: each setting's name, default, accepted types or values and help, checked before a run and resolved with presets.
- `cxr_nb.papers.results`: What every paper notebook measures after training: the held-out arrays of an experiment, a paper's epoch window, one row of the paper-vs-run table, and ablation arms scored on the same folds.
- `cxr_nb.papers.yang2021`: The published settings and numbers of Yang et al. 2021, and the helpers its notebook (`nbs/papers/yang2021_pneumoconiosis.ipynb`) uses, each tested here on phantoms or tiny arrays.
- `cxr_nb.phantom.layouts`: Folders of phantoms in the JSRT/SCR, pneumoconiosis, RSNA, NIH ChestX-ray14 and Kermany layouts, a set with a shortcut, with a manifest of how each image was made.
- `cxr_nb.phantom.render`: Procedural chest radiographs with exact ground truth: anatomy, acquisition, findings and ILO opacities.
- `cxr_nb.pretrained`: One loader of torchvision state dicts for every model of the package, with `pretrained="auto"`.
- `cxr_nb.seg.lung_region`: The lung fields of a radiograph, cut out with a segmenter's mask and written through the preprocessing cache. Also the masks themselves, cached as `mask_*` columns for models that take a mask as a second input.
- `cxr_nb.seg.nets`: The classic U-Net, SegNet and PSPNet in plain torch (SegNet and PSPNet: the two other networks of Chang & Huang's Fig. 8), and `seg_model`, which builds any of them or fastai's DynamicUnet on a ResNet.
- `cxr_nb.seg.segmenter`: Dice losses and metrics per structure, training on a clock, post-processing, and a saved `Segmenter` that runs on any folder of radiographs.
- `cxr_nb.vocab`: The names every loader, phantom writer and model shares, each defined once."""

__version__ = "0.0.1"
