"""The size cap of the window's cache of long-recording stores (specview.longcache)."""

from __future__ import annotations

import os

import pytest

from specview import longcache
from specview.errors import ParameterError


def _store(root, name: str, mb: float, used: float):
    p = root / f"{name}.zarr"
    (p / "map" / "c").mkdir(parents=True)
    (p / "zarr.json").write_text("{}")
    (p / "map" / "c" / "0").write_bytes(b"\0" * int(mb * 1e6))
    os.utime(p, (used, used))
    return p


def test_the_stores_used_longest_ago_go_first_and_the_kept_ones_never(tmp_path):
    a = _store(tmp_path, "a", 1.0, 1000.0)  # the oldest, but open: kept
    b = _store(tmp_path, "b", 1.0, 2000.0)
    c = _store(tmp_path, "c", 1.0, 3000.0)
    d = _store(tmp_path, "d", 1.0, 4000.0)
    (tmp_path / "notes.txt").write_text("not a store")
    size = longcache.folder_bytes(a)
    assert size == 1_000_000 + 2
    removed = longcache.evict(tmp_path, limit=int(2.5 * size), keep=[a])
    assert removed == [b, c]
    assert a.exists() and d.exists() and not b.exists() and not c.exists()
    assert (tmp_path / "notes.txt").exists()
    # under the cap: nothing goes
    assert longcache.evict(tmp_path, limit=2 * size) == []
    # a store opened again is the newest: the other one goes first
    longcache.mark_used(a)
    assert longcache.evict(tmp_path, limit=size) == [d]
    assert a.exists()
    # 0 keeps only what is in use
    assert longcache.evict(tmp_path, limit=0, keep=[a]) == [] and a.exists()
    assert longcache.evict(tmp_path, limit=0) == [a]
    assert longcache.evict(tmp_path / "missing", limit=0) == []


def test_the_cap_from_the_environment(monkeypatch):
    monkeypatch.delenv(longcache.ENV, raising=False)
    assert longcache.limit_bytes() == int(longcache.DEFAULT_LIMIT_GB * 1e9) == 4_000_000_000
    monkeypatch.setenv(longcache.ENV, "0.5")
    assert longcache.limit_bytes() == 500_000_000
    monkeypatch.setenv(longcache.ENV, "0")
    assert longcache.limit_bytes() == 0
    for bad in ("lots", "-1", "nan", "inf"):
        monkeypatch.setenv(longcache.ENV, bad)
        with pytest.raises(ParameterError, match=longcache.ENV):
            longcache.limit_bytes()
