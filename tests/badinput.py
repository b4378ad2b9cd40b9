"""Helpers shared by the bad-input test modules (issue 15): small phantom folders, folder hashes, quiet calls."""
import hashlib
import warnings
from pathlib import Path

from cxr_nb.phantom.layouts import (write_jsrt_layout, write_kermany_layout, write_nih_layout,
                                    write_pneumoconiosis_layout, write_rsna_layout)

WRITERS = {"jsrt": write_jsrt_layout, "pneumoconiosis": write_pneumoconiosis_layout, "rsna": write_rsna_layout,
           "nih": write_nih_layout, "kermany": write_kermany_layout}
SIZE = 32  # phantom side for these tests: every file is tiny, every test fast


def folder_hash(root) -> dict:
    "Relative path -> sha1 of every file under `root` (folders included as entries), to compare before and after."
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = hashlib.sha1(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
    return out


def quiet(fn, *args, **kwargs):
    "Call `fn` with warnings silenced (loaders warn about every bad file they report)."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def user_folder(root) -> Path:
    "A folder that holds a user's own files, with the names a phantom writer would use."
    root = Path(root)
    (root / "images").mkdir(parents=True)
    (root / "jsrt.csv").write_text("image,nodule\nMINE,1\n")
    (root / "labels.csv").write_text("image,patient_id,ilo_category\nmine.png,p1,2\n")
    (root / "phantom_manifest.csv").write_text("my notes\n")
    (root / "images" / "PHCLN0001.png").write_bytes(b"my image bytes")
    return root
