"""The size cap of the window's cache of long-recording stores (issue 14).

The window keeps the store of every long recording it scores or reads
(:func:`specview.overview.store_folder`, under ``cache_dir() / "long"``): a day-long
recording's is about 0.7 GB, so without a cap the cache grows for ever. :func:`evict` removes
the stores used longest ago until the cache is under its cap, never one that is open or being
written (``keep``). A store's last use is its folder's modification time, which
:func:`mark_used` sets when the window opens it (and which writing it sets too).

The cap: :data:`DEFAULT_LIMIT_GB`, or ``$SPECVIEW_LONG_CACHE_GB`` (a number of gigabytes;
``0`` keeps only the stores in use).

Core module: the standard library only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from specview.errors import ParameterError

#: Gigabytes of stores the cache holds at the most, by default.
DEFAULT_LIMIT_GB = 4.0
ENV = "SPECVIEW_LONG_CACHE_GB"


def limit_bytes() -> int:
    """The cache's cap in bytes (``$SPECVIEW_LONG_CACHE_GB`` or :data:`DEFAULT_LIMIT_GB`)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return int(DEFAULT_LIMIT_GB * 1e9)
    try:
        gb = float(raw)
    except ValueError:
        gb = -1.0
    if not gb >= 0.0 or gb == float("inf"):
        raise ParameterError(f"{ENV}={raw!r}: give the cache's size in gigabytes, e.g. 4 or "
                             "0.5 (0 keeps only the stores in use)")
    return int(gb * 1e9)


def folder_bytes(folder: str | Path) -> int:
    """Bytes of the files under ``folder`` (0 when it is gone)."""
    total = 0
    stack = [Path(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                else:
                    total += e.stat(follow_symlinks=False).st_size
            except OSError:
                pass
    return total


def mark_used(folder: str | Path) -> None:
    """Record that the store at ``folder`` was used now (when it exists)."""
    try:
        os.utime(folder)
    except OSError:
        pass


def evict(root: str | Path, *, limit: int | None = None, keep: Iterable[str | Path] = ()
          ) -> list[Path]:
    """Remove the stores (``*.zarr`` folders) under ``root`` used longest ago until the rest
    take at most ``limit`` bytes (default :func:`limit_bytes`); the folders in ``keep`` are
    never removed (they count towards the total). Returns the folders removed, oldest first.
    A store that cannot be removed is left and the next one tried."""
    limit = limit_bytes() if limit is None else int(limit)
    kept = {Path(k).resolve() for k in keep}
    stores = []
    try:
        found = [p for p in Path(root).iterdir() if p.is_dir() and p.suffix == ".zarr"]
    except OSError:
        return []
    for p in found:
        try:
            stores.append((p.stat().st_mtime, p, folder_bytes(p)))
        except OSError:
            continue
    total = sum(size for _t, _p, size in stores)
    removed: list[Path] = []
    for _t, p, size in sorted(stores, key=lambda s: s[0]):
        if total <= limit:
            break
        if p.resolve() in kept:
            continue
        try:
            shutil.rmtree(p)
        except OSError:
            continue
        total -= size
        removed.append(p)
    return removed
