"""Calibration on normal maps: quantiles, the calibrated scale, the bounded sample, round trips."""

import numpy as np
import pytest

from specview.calibration import LEVELS, Calibration, calibrate
from specview.errors import ModelFileError, ParameterError


def test_quantiles_and_calibrated_scale_have_known_values():
    maps = [np.arange(1000, dtype=np.float32).reshape(10, 100) / 999.0]  # uniform 0..1
    cal = calibrate(maps, [0.2, 0.4], held_out=True)
    assert cal.median == pytest.approx(0.5, abs=1e-6)
    assert cal.threshold == 1.0  # under 3 clips: the highest normal cell
    z = cal.calibrated(np.array([[0.5, 1.0, 1.5]]))
    np.testing.assert_allclose(z, [[0.0, 1.0, 2.0]], atol=1e-4)
    assert cal.clip_percentile(0.3) == 0.5
    assert cal.quantile(0.9) == pytest.approx(0.9, abs=1e-3)


def test_flag_threshold_lets_the_stated_share_of_normal_clips_through():
    # clip maxima drawn from a Gumbel law: the fitted 95 % quantile must be near the true one
    rng = np.random.default_rng(3)
    mu, beta = 4.0, 0.3
    maxima = rng.gumbel(mu, beta, size=400)
    maps = [np.array([[0.0, m]]) for m in maxima]
    cal = calibrate(maps, list(maxima), held_out=True)
    true_95 = mu - beta * np.log(-np.log(0.95))
    assert cal.threshold == pytest.approx(true_95, abs=0.06)
    fresh = rng.gumbel(mu, beta, size=20000)
    assert np.mean(fresh >= cal.threshold) == pytest.approx(0.05, abs=0.01)
    assert cal.with_flag_rate(0.5).threshold < cal.threshold
    with pytest.raises(ParameterError, match="flag rate"):
        cal.with_flag_rate(1.5)


def test_round_trip_through_dict_is_exact():
    rng = np.random.default_rng(0)
    cal = calibrate([rng.normal(size=(8, 50)) for _ in range(3)], [1.0, 2.0, 3.0], held_out=False)
    back = Calibration.from_dict(cal.to_dict())
    assert back == cal
    assert back.levels == LEVELS and back.n_clips == 3 and not back.held_out


@pytest.mark.parametrize("bad", [{}, {"levels": [0.5, 1.0], "cell_quantiles": [2.0, 1.0],
                                     "n_clips": 1, "held_out": True},
                                 {"levels": [0.5], "cell_quantiles": [1.0], "n_clips": 1,
                                  "held_out": True}])
def test_damaged_blocks_are_refused(bad):
    with pytest.raises(ModelFileError, match="calibration"):
        Calibration.from_dict(bad)


def test_large_sets_are_sampled_uniformly_within_the_cap():
    # 20 maps whose values are their index: a uniform sample keeps about 5 % of each
    maps = [np.full((10, 100), float(i)) for i in range(20)]
    cal = calibrate(maps, [0.0] * 20, held_out=True, max_cells=4000)
    assert cal.median == pytest.approx(9.5, abs=1.0)
    full = calibrate(maps, [0.0] * 20, held_out=True)
    assert full.median == pytest.approx(9.5, abs=0.51)


def test_bad_maps_are_refused():
    with pytest.raises(ParameterError, match="non-finite"):
        calibrate([np.array([[np.nan]])], [0.0], held_out=True)
    with pytest.raises(ParameterError, match="no calibration maps"):
        calibrate([], [], held_out=True)
