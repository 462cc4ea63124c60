"""What a tree holds: the manifest of the files a generator wrote (and their SHA-256), and
the files that differ from it."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from specview.fileio.orphans import is_temp_name

__all__ = [
    "MANIFEST_NAME",
    "manifest_text",
    "read_manifest",
    "sha256_file",
    "tree_changes",
]


# -- what a tree holds ------------------------------------------------------------------------

#: The list of files (and their SHA-256) that a generator such as ``demo-data`` wrote.
MANIFEST_NAME = ".specview-files.json"
_MANIFEST_FORMAT = "specview-files"


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_text(files: dict[str, str]) -> str:
    """The manifest of ``files`` (``{relative posix path: sha256}``), deterministic JSON."""
    doc = {"format": _MANIFEST_FORMAT, "version": 1, "files": dict(sorted(files.items()))}
    return json.dumps(doc, indent=1) + "\n"


def read_manifest(folder: str | Path) -> dict[str, str] | None:
    """``{relative path: sha256}`` from ``folder``'s manifest; None without one.

    A manifest that cannot be read or parsed lists nothing (``{}``): every file then counts
    as not written by specview.
    """
    path = Path(folder) / MANIFEST_NAME
    if not os.path.lexists(path):
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"] if doc.get("format") == _MANIFEST_FORMAT else {}
        return {str(k): str(v) for k, v in files.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def tree_changes(folder: str | Path, manifest: dict[str, str], *,
                 ignore: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """``(changed, foreign)``: files under ``folder`` that differ from their manifest entry,
    and files the manifest does not list (relative posix paths, sorted).

    The manifest itself, names in ``ignore`` (relative paths) and temporary files of this
    module are skipped; a symbolic link is never one of specview's files.
    """
    root = Path(folder)
    skip = {MANIFEST_NAME, *ignore}
    changed, foreign = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_temp_name(d)]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames + links):
            if is_temp_name(name):
                continue
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel in skip:
                continue
            if rel not in manifest:
                foreign.append(rel)
            elif p.is_symlink() or not p.is_file() or sha256_file(p) != manifest[rel]:
                changed.append(rel)
    return sorted(changed), sorted(foreign)
