"""Segmentation: the networks, the saved `Segmenter`, and the lung regions cut out with it."""
