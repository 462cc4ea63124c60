"""zscore: band means and deviations with a deviation floor relative to the median band's."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_texture import spec_of

from specview.detectors.zscore import ZScore, ZScoreParams
from specview.encoders.tiny import TinyEncoder
from specview.errors import ParameterError

RAW = {"smooth_s": 0.0, "smooth_mel": 0.0}  # the map is |z| itself


def two_level(devs: np.ndarray, n_time: int = 40, level: float = 0.5) -> np.ndarray:
    """Band b alternates level +- devs[b]: mean ``level`` and deviation ``devs[b]`` exactly."""
    sign = np.where(np.arange(n_time) % 2 == 0, 1.0, -1.0)
    return level + devs[:, None] * sign[None, :]


@pytest.fixture(scope="module")
def enc():
    return TinyEncoder()


def test_deviation_floor_is_a_share_of_the_median_band(enc):
    devs = np.full(32, 0.1)
    devs[5] = 0.0  # a band that never moved in training
    devs[6] = 0.001  # and one that barely did
    devs[20:] = 0.3
    det = ZScore(ZScoreParams(**RAW))
    det.fit(enc, [spec_of(two_level(devs), enc)])
    np.testing.assert_allclose(det.mean, 0.5, atol=1e-6)
    want = devs.copy()
    want[[5, 6]] = 0.05 * 0.1  # default min_std_ratio 0.05 of the median deviation 0.1
    np.testing.assert_allclose(det.std, want, rtol=1e-4)
    # a rise of 0.01 in the silent band is 2 floored deviations; elsewhere 0.1 of one
    v = np.full((32, 10), 0.5)
    v[5, 4] += 0.01
    v[10, 4] += 0.01
    res = det.score(enc, spec_of(v, enc))
    assert res.map[5, 4] == pytest.approx(2.0, rel=1e-3)
    assert res.map[10, 4] == pytest.approx(0.1, rel=1e-3)
    assert res.clip_score == pytest.approx(2.0, rel=1e-3)
    # a larger share floors more
    det2 = ZScore(ZScoreParams(min_std_ratio=0.5, **RAW))
    det2.fit(enc, [spec_of(two_level(devs), enc)])
    assert det2.std[5] == pytest.approx(0.05, rel=1e-4) and det2.std[0] == pytest.approx(0.1)


def test_maps_do_not_depend_on_the_front_ends_units(enc):
    # the same clips in units 100 times larger (dB-like against a 0-1 compressed level)
    rng = np.random.default_rng(0)
    devs = rng.uniform(0.05, 0.2, 32)
    devs[3] = 0.0
    train = two_level(devs) + 0.01 * rng.standard_normal((32, 40))
    test = 0.5 + 0.2 * rng.standard_normal((32, 30))
    maps = []
    for unit in (1.0, 100.0):
        det = ZScore(ZScoreParams(**RAW))
        det.fit(enc, [spec_of(unit * train, enc)])
        maps.append(det.score(enc, spec_of(unit * test, enc)).map)
    np.testing.assert_allclose(maps[0], maps[1], rtol=1e-4, atol=1e-5)  # float32 sums


@pytest.mark.parametrize("bad", [0.0, -0.1])
def test_min_std_ratio_must_be_positive(bad):
    with pytest.raises(ParameterError, match=r"min_std_ratio -?0\.\d: must be > 0"):
        ZScoreParams(min_std_ratio=bad)
