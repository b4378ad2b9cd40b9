"""Synthetic chest radiographs with exact truth (rendering) and folders of them in each data set's layout."""
