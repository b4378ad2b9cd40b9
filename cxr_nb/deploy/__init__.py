"""After a notebook: model bundles, `cxr-nb predict` and `cxr-nb evaluate`."""
