"""From files to batches: preprocessing and its cache, one DataFrame per data set, patient-level splits, DataLoaders."""
