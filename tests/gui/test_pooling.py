"""Max-pooling of what the window draws (specview.gui.pooling): known answers."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest

from specview.gui.pooling import (
    PooledColumns,
    PooledImageItem,
    pool_axis,
    pooled_window,
    pow2_ceil,
    pow2_floor,
)


def reference(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Group by group with nanmax (NaN for an all-NaN group)."""
    a = np.moveaxis(a, axis, -1)
    groups = []
    for s in range(0, a.shape[-1], k):
        g = a[..., s:s + k]
        allnan = np.isnan(g).all(axis=-1)
        filled = np.where(np.isnan(g), -np.inf, g).max(axis=-1)
        groups.append(np.where(allnan, np.nan, filled))
    return np.moveaxis(np.stack(groups, axis=-1), -1, axis)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("k", [2, 3, 7, 64, 256, 1000])
def test_pool_axis_keeps_the_loudest_cell_of_each_group(axis, k):
    rng = np.random.default_rng(k)
    a = rng.normal(size=(37, 211)).astype(np.float32)
    a[5, 3] = np.nan
    a[:, 20:28] = np.nan  # whole groups of NaN stay NaN
    a[10:14, :] = np.nan
    got = pool_axis(a, k, axis=axis)
    assert got.shape[axis] == -(-a.shape[axis] // k)
    np.testing.assert_array_equal(got, reference(a, k, axis))


def test_a_click_one_column_wide_survives_pooling():
    img = np.full((8, 1000), -80.0, dtype=np.float32)
    img[3, 517] = -5.0
    got = pool_axis(img, 16, axis=1)
    assert got[3, 517 // 16] == -5.0 and got.max() == -5.0
    assert pool_axis(img, 1) is img and pow2_floor(1) == 1 and pow2_floor(7) == 4
    assert pow2_floor(8) == 8 and pow2_floor(0) == 1
    assert [pow2_ceil(k) for k in (0, 1, 2, 3, 8, 9, 20)] == [1, 1, 2, 4, 8, 16, 32]


def test_pooled_columns_follow_columns_arriving_in_pieces():
    rng = np.random.default_rng(3)
    n_rows, n_cols = 6, 10_007
    power = np.full((n_rows, n_cols), np.nan, dtype=np.float32)
    score = np.full(n_cols, np.nan, dtype=np.float32)
    pool = PooledColumns(n_rows, n_cols, target=512)
    assert pool.factor == 32 and pool.n_pooled == 313  # 20 rounded up to a power of two
    c = 0
    while c < n_cols:  # pieces of any size, as the background task hands them over
        n = int(rng.integers(1, 900))
        power[:, c:c + n] = rng.normal(size=(n_rows, min(n, n_cols - c)))
        score[c:c + n] = rng.normal(size=min(n, n_cols - c))
        pool.update(power, score, c, c + n)
        c += n
        np.testing.assert_array_equal(pool.power, reference(power, 32, 1))
        np.testing.assert_array_equal(pool.score, reference(score[None], 32, 1)[0])
    centres = pool.centres(0.5)
    assert centres[0] == 8.0 and centres[-1] == pytest.approx((9984 + 11.5) * 0.5)


def test_pooled_window_starts_on_a_group():
    power = np.arange(30.0, dtype=np.float32).reshape(1, 30) % 7
    score = np.arange(30.0, dtype=np.float32)
    start, f, p, s = pooled_window(power, score, 7, 29, target=8)
    assert (start, f) == (4, 4)  # 22 columns in 8: 3 a column, rounded up to a power of two
    np.testing.assert_array_equal(s, [7, 11, 15, 19, 23, 27, 28])
    np.testing.assert_array_equal(p[0], reference(power[:, 4:29], 4, 1)[0])


def test_pooled_image_item_draws_pooled_and_caches_each_factor(qtbot):
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(300, 200)
    img = np.full((256, 4096), -80.0, dtype=np.float32)
    img[100, 2049] = 0.0  # one cell: drawn as loud when zoomed out
    item = PooledImageItem(axisOrder="row-major")
    item.setAutoDownsample(True)
    item.setImage(img, autoLevels=False, levels=(-80.0, 0.0))
    w.addItem(item)
    w.getViewBox().setRange(xRange=(0, 4096), yRange=(0, 256), padding=0)
    w.show()
    qtbot.waitExposed(w)
    w.grab()
    xds, yds = item._lastDownsample
    assert xds >= 8 and xds == pow2_floor(xds) and yds == pow2_floor(yds)
    assert item.qimage.width() == -(-4096 // xds) and item.qimage.height() == -(-256 // yds)
    pooled = item.pooled(xds, yds)
    assert pooled.max() == 0.0  # the click's cell, not its average with its neighbours
    np.testing.assert_array_equal(pooled, pool_axis(pool_axis(img, xds, 1), yds, 0))
    assert item.pooled(xds, yds) is pooled  # computed once
    finer = item.pooled(max(1, xds // 2), yds)
    np.testing.assert_array_equal(finer, pool_axis(pool_axis(img, xds // 2, 1), yds, 0))
    item.setImage(img * 0.5, autoLevels=False)
    assert item._pooled == {}  # a new image: pooled afresh


def _pixels(qimage) -> np.ndarray:
    q = qimage.convertToFormat(qimage.Format.Format_ARGB32)
    return np.frombuffer(q.constBits(), np.uint8, q.sizeInBytes()).reshape(q.height(), -1).copy()


def test_pooled_image_item_keeps_the_picture_of_each_factor_until_it_changes(qtbot):
    w = pg.PlotWidget()
    qtbot.addWidget(w)
    w.resize(300, 200)
    rng = np.random.default_rng(3)
    img = rng.uniform(-80.0, 0.0, (128, 4096)).astype(np.float32)
    img[5:9, 100:140] = np.nan  # transparent cells survive the kept picture too
    item = PooledImageItem(axisOrder="row-major")
    item.setAutoDownsample(True)
    item.setImage(img, autoLevels=False, levels=(-80.0, 0.0))
    item.setColorMap(pg.colormap.get("viridis"))
    w.addItem(item)
    vb = w.getViewBox()
    vb.setRange(xRange=(0, 4096), yRange=(0, 128), padding=0)
    w.show()
    qtbot.waitExposed(w)
    w.grab()
    wide = item._lastDownsample
    first = item.qimage
    assert wide[0] >= 8 and item._kept(*wide) is not None
    vb.setRange(xRange=(0, 256), yRange=(0, 128), padding=0)  # zoomed in: another factor
    w.grab()
    assert item._lastDownsample != wide
    vb.setRange(xRange=(0, 4096), yRange=(0, 128), padding=0)  # and out again
    w.grab()
    assert item._lastDownsample == wide and item.qimage is first  # the kept picture drawn
    fresh = PooledImageItem(axisOrder="row-major")  # equals one rendered afresh
    fresh.setAutoDownsample(True)
    fresh.setImage(img, autoLevels=False, levels=(-80.0, 0.0))
    fresh.setColorMap(pg.colormap.get("viridis"))
    w.addItem(fresh)
    w.grab()
    assert fresh._lastDownsample == wide
    np.testing.assert_array_equal(_pixels(item.qimage), _pixels(fresh.qimage))
    # new levels, a new colour map or a new image: rendered again, as pyqtgraph would
    item.setLevels((-40.0, 0.0))
    w.grab()
    assert item.qimage is not first
    fresh.setLevels((-40.0, 0.0))
    w.grab()
    np.testing.assert_array_equal(_pixels(item.qimage), _pixels(fresh.qimage))
    before = item.qimage
    item.setLookupTable(pg.colormap.get("inferno").getLookupTable(nPts=256), update=False)
    assert item._kept(*wide) is None
    item.setImage(img[::-1].copy(), autoLevels=False)
    assert item._rendered == {}
    w.grab()
    assert item.qimage is not before
