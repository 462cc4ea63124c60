"""Flagged regions as events (metrics.event_regions): merging in time, the band of the energy
an event adds, and the normal power statistics the model keeps for it."""

from __future__ import annotations

import numpy as np
import pytest

from specview.calibration import RowProfile, power_ceiling
from specview.encoders.aisfx import aisfx_front_end
from specview.errors import ParameterError
from specview.metrics import event_regions
from specview.spectrogram import compress, expand
from specview.types import Box, FlaggedRegion, Spectrogram

TIMES = np.arange(100) * 0.02  # 2 s at 20 ms
FREQS = 100.0 * np.arange(1, 33)  # rows 50-150, 150-250, ... Hz


def _region(t0, t1, f0, f1, score=5.0, cells=10):
    return FlaggedRegion(Box(t0, t1, f0, f1), score, cells)


def test_regions_close_in_time_merge_and_far_ones_do_not():
    beeps = [_region(0.2, 0.5, 1000, 2000, 4.0), _region(0.8, 1.1, 1000, 2000, 6.0),
             _region(1.9, 1.95, 3000, 3100, 2.0)]
    out = event_regions(beeps, None, TIMES, FREQS, gap_s=0.5)
    assert len(out) == 2
    first = out[0]  # highest score first
    assert (first.box.t0, first.box.t1, first.box.f0, first.box.f1) == (0.2, 1.1, 1000, 2000)
    assert first.score == 6.0 and first.n_cells == 20
    assert out[1].box.t0 == 1.9
    # a low and a high part of one knock at the same time become one box spanning both
    knock = event_regions([_region(1.0, 1.2, 50, 800), _region(1.0, 1.2, 3250, 4000)],
                          None, TIMES, FREQS)
    assert len(knock) == 1 and knock[0].box.f0 == 50 and knock[0].box.f1 == 4000


def test_band_is_the_central_energy_of_what_the_event_adds():
    excess = np.zeros((32, 100), dtype=np.float32)
    excess[9:12, 40:60] = 1.0  # a tone's energy in rows 9-11 (1000-1200 Hz, edges 950-1250)
    excess[20, 45] = 0.001  # a stray cell far away: far less than 2.5 % of the energy
    broad = [_region(0.7, 1.3, 50, 3250)]  # what a network's map flagged
    out = event_regions(broad, excess, TIMES, FREQS)
    assert len(out) == 1
    b = out[0].box
    assert (b.t0, b.t1) == (0.7, 1.3)  # time untouched
    assert b.f0 == pytest.approx(950.0) and b.f1 == pytest.approx(1250.0)


def test_band_stays_inside_the_flagged_box_and_without_added_energy_is_kept():
    excess = np.zeros((32, 100), dtype=np.float32)
    excess[2:30, 40:60] = 1.0
    out = event_regions([_region(0.8, 1.2, 1000, 2000)], excess, TIMES, FREQS)
    assert out[0].box.f0 == 1000 and out[0].box.f1 == 2000
    # a missing component adds no energy: the map's band is kept
    none = event_regions([_region(0.8, 1.2, 1000, 2000)], np.zeros((32, 100)), TIMES, FREQS)
    assert none[0].box.f0 == 1000 and none[0].box.f1 == 2000
    # too little added energy against the box's normal energy: kept too
    small = np.zeros((32, 100))
    small[10, 50] = 1e-3
    kept = event_regions([_region(0.8, 1.2, 1000, 2000)], small, TIMES, FREQS,
                         normal_power=np.ones(32))
    assert kept[0].box.f0 == 1000 and kept[0].box.f1 == 2000


def _pink_burst(sr: int, seconds: float, f0: float, f1: float, seed: int = 3) -> np.ndarray:
    """Noise whose power density falls as 1/f from ``f0`` to ``f1`` Hz (none outside): most
    of its energy low, a long tail high, as a knock's."""
    rng = np.random.default_rng(seed)
    n = int(sr * seconds)
    spec = rng.normal(size=n // 2 + 1) + 1j * rng.normal(size=n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    inside = (f >= f0) & (f <= f1)
    spec[~inside] = 0.0
    spec[inside] /= np.sqrt(f[inside])
    x = np.fft.irfft(spec, n)
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


@pytest.mark.parametrize(("f0", "f1"), [(100.0, 10000.0), (2000.0, 3000.0)])
def test_band_follows_the_energy_in_hz_on_a_mel_grid(f0, f1):
    """A broadband burst whose energy density falls as 1/f (100 Hz-10 kHz) and a narrow one
    (2-3 kHz), scored on aisfx's mel grid (96 bands, wider as they go up, each holding its
    bins' mean power): the band found spans the truth box's band (the central 95 % of the
    energy over linear frequency, as the benchmark's boxes are made) within one mel band at
    both edges. Counting each row as it is, the high bands' energy is under-weighted and the
    broad burst's upper edge falls several bands short."""
    from specview.envmix_sources import _energy_band
    from specview.metrics.regions import row_position
    from specview.spectrogram import mel_power
    from specview.types import Audio

    fe = aisfx_front_end()
    x = _pink_burst(fe.sr, 0.5, f0, f1)
    truth = _energy_band(x, fe.sr)
    spec = mel_power(Audio(x, fe.sr), fe)
    flagged = [_region(0.0, 0.5, 0.0, 22050.0)]
    got = event_regions(flagged, spec.values, spec.times, spec.freqs)[0].box
    rows = row_position(np.array([got.f0, got.f1, *truth]), spec.freqs)
    assert abs(rows[0] - rows[2]) <= 1.0 and abs(rows[1] - rows[3]) <= 1.0, (got, truth)
    if f0 == 100.0:
        plain = event_regions(flagged, spec.values, spec.times, spec.freqs,
                              band_weights="row")[0].box
        assert row_position(np.array([plain.f1]), spec.freqs)[0] < rows[3] - 3.0
    with pytest.raises(ParameterError, match="band_weights"):
        event_regions(flagged, spec.values, spec.times, spec.freqs, band_weights="mel")


def test_excess_power_is_power_above_the_normal_ceiling():
    rng = np.random.default_rng(0)
    normal = [rng.exponential(1.0, (4, 500)) * np.array([[1], [10], [100], [1000]])
              for _ in range(3)]
    ceiling = power_ceiling(normal, q=0.99)
    assert np.allclose(ceiling, [4.6 * s for s in (1, 10, 100, 1000)], rtol=0.15)  # -ln(0.01)
    prof = RowProfile((0.0,) * 4, (1.0,) * 4, (), ceiling)
    p = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    ex = prof.excess_power(p)
    assert ex.shape == (4, 2) and (ex[:, 0] == 0).all()
    assert ex[0, 1] == pytest.approx(10.0 - ceiling[0], rel=1e-6) and ex[3, 1] == 0.0
    assert prof.excess_power(np.zeros((5, 2))) is None  # another front end
    assert RowProfile((0.0,) * 4, (1.0,) * 4).excess_power(p) is None  # no statistics
    d = prof.to_dict()
    assert RowProfile.from_dict(d) == prof
    with pytest.raises(ValueError, match="power_ceiling"):
        RowProfile.from_dict({**d, "power_ceiling": [1.0, -1.0, 1.0, 1.0]})


@pytest.mark.parametrize("compression", ["log1p", "db"])
def test_expand_inverts_compress(compression):
    from dataclasses import replace

    fe = replace(aisfx_front_end(), compression=compression)
    p = np.array([[1e-6, 1e-3, 0.5, 20.0]], dtype=np.float32)
    s = Spectrogram(p, np.arange(4.0), np.array([100.0]), "power", 4.0)
    assert np.allclose(expand(compress(s, fe).values, fe), p, rtol=1e-4)


def test_model_flagged_cuts_regions_at_the_calibration_region_level():
    """A plateau 1.5x the threshold over 1-3 s with a spike of 10 at 2 s: half the peak's
    height keeps the spike alone, level 0 the whole plateau."""
    import dataclasses
    import types

    from specview.calibration import Calibration
    from specview.pipeline import Model
    from specview.types import AnomalyResult

    times = np.arange(0.0, 4.0, 0.05)
    freqs = np.geomspace(100.0, 10000.0, 32)
    amap = np.zeros((32, times.size), np.float32)
    amap[10:20, (times >= 1.0) & (times <= 3.0)] = 1.5
    amap[14:16, np.abs(times - 2.0) < 0.06] = 10.0
    res = AnomalyResult(amap, times, freqs, 10.0, amap.max(axis=0))
    cal = Calibration((0.5, 1.0), (0.0, 1.0), (), (1.0,), 1, True)
    boxes = {}
    for level in (0.5, 0.0):
        m = types.SimpleNamespace(calibration=dataclasses.replace(cal, region_level=level))
        (r,) = Model.flagged(m, res)
        boxes[level] = r.box
    assert boxes[0.5].t0 == pytest.approx(1.925) and boxes[0.5].t1 == pytest.approx(2.075)
    assert boxes[0.0].t0 == pytest.approx(0.975) and boxes[0.0].t1 == pytest.approx(3.025)
    assert boxes[0.0].f1 - boxes[0.0].f0 > 3 * (boxes[0.5].f1 - boxes[0.5].f0)


def test_model_flagged_grows_regions_down_to_the_calibration_floor():
    """A plateau at 0.8 of the threshold over 1-3 s with a spike of 10 at 2 s: without a floor
    only the spike is flagged; with the floor at the normal 0.9 quantile (0.7 here) the region
    grows over the plateau, and the plateau alone is not flagged."""
    import dataclasses
    import types

    from specview.calibration import Calibration
    from specview.pipeline import Model
    from specview.types import AnomalyResult

    times = np.arange(0.0, 4.0, 0.05)
    freqs = np.geomspace(100.0, 10000.0, 32)
    amap = np.zeros((32, times.size), np.float32)
    amap[10:20, (times >= 1.0) & (times <= 3.0)] = 0.8
    spike = amap.copy()
    spike[14:16, np.abs(times - 2.0) < 0.06] = 10.0
    cal = dataclasses.replace(Calibration((0.5, 1.0), (0.0, 1.0), (), (1.0,), 1, True),
                              region_level=0.0)
    grown = dataclasses.replace(cal, floor_quantile=0.85)
    assert grown.region_floor == pytest.approx(0.7) and grown.threshold == 1.0

    def flagged(c, m):
        return Model.flagged(types.SimpleNamespace(calibration=c),
                             AnomalyResult(m, times, freqs, float(m.max()), m.max(axis=0)))

    (plain,) = flagged(cal, spike)
    assert (plain.box.t0, plain.box.t1) == pytest.approx((1.925, 2.075))
    (r,) = flagged(grown, spike)
    assert (r.box.t0, r.box.t1) == pytest.approx((0.975, 3.025)) and r.score == 10.0
    assert (r.box.f0, r.box.f1) == pytest.approx(((freqs[9] * freqs[10]) ** 0.5,
                                                  (freqs[19] * freqs[20]) ** 0.5), rel=0.1)
    assert flagged(grown, amap) == []
