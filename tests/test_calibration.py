"""Calibration on normal maps: quantiles, the calibrated scale, the bounded sample, round trips;
the row profile: rows on one scale, clip-edge factors."""

import dataclasses

import numpy as np
import pytest

from specview.calibration import LEVELS, Calibration, RowProfile, calibrate, fit_row_profile
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


# -- row profile --------------------------------------------------------------------------------

Z95 = 1.6448536269514722  # the standard normal's 95th percentile
STDS = np.array([0.1, 0.3, 1.0, 2.0, 0.5, 5.0, 0.2, 1.5])  # one per row, far apart
OFFSETS = np.array([3.0, -1.0, 0.0, 10.0, 2.5, -4.0, 7.0, 1.0])


def noise_maps(seed: int, n_maps: int, n_time: int, *, edge: int = 0, factor: float = 1.0,
               stds=STDS, offsets=OFFSETS):
    """Maps whose row r is ``offsets[r] + stds[r] * N(0, 1)``; the first and last ``edge``
    frames' deviations raised ``factor`` times."""
    rng = np.random.default_rng(seed)
    stds, offsets = np.asarray(stds), np.asarray(offsets)
    out = []
    for _ in range(n_maps):
        dev = stds[:, None] * rng.standard_normal((stds.size, n_time))
        if edge:
            dev[:, :edge] *= factor
            dev[:, -edge:] *= factor
        out.append(offsets[:, None] + dev)
    return out


#: Rows alike (one spread, one offset): the edge tests measure the ends alone.
ALIKE = {"stds": np.ones(8), "offsets": np.zeros(8)}


def _two_sided(maps):
    """Each row's median and 95th-percentile-minus-median over the maps' cells."""
    cells = np.concatenate(maps, axis=1)
    med = np.median(cells, axis=1)
    return med, np.quantile(cells, 0.95, axis=1) - med


def test_row_profile_brings_high_and_noisy_rows_down_to_the_typical_row():
    maps = noise_maps(0, 20, 1000)
    prof = fit_row_profile(maps, rows_smoothing=1)
    # location: the row's median (its offset), at least the median row's; scale: its 95th
    # percentile above it (Z95 * std), at least the median row's
    np.testing.assert_allclose(prof.loc, np.maximum(OFFSETS, np.median(OFFSETS)),
                               atol=0.03 * STDS.max())
    np.testing.assert_allclose(prof.scale, np.maximum(Z95 * STDS, np.median(Z95 * STDS)),
                               rtol=0.05)
    assert prof.edge == ()
    # fresh normal maps: no row's 95th percentile above ~1 (no row dominates the maxima);
    # the rows at or above the typical spread sit at ~1 with median ~0 where their offset is
    # above typical too
    fresh = np.concatenate([prof.apply(m) for m in noise_maps(1, 20, 1000)], axis=1)
    assert fresh.dtype == np.float32 and fresh.shape == (8, 20000)
    q95 = np.quantile(fresh, 0.95, axis=1)
    assert (q95 <= 1.05).all()
    high = (STDS >= np.median(STDS)) & (OFFSETS >= np.median(OFFSETS))
    np.testing.assert_allclose(q95[high], 1.0, atol=0.05)
    np.testing.assert_allclose(np.median(fresh, axis=1)[high], 0.0, atol=0.03)
    # by default the raw scale is averaged over 5 neighbouring rows (edges repeated), then
    # held at least at the median row's
    _, raw = _two_sided(maps)
    padded = np.concatenate([raw[:1], raw[:1], raw, raw[-1:], raw[-1:]])
    smooth = sum(padded[i:i + raw.size] for i in range(5)) / 5
    smoothed = fit_row_profile(maps)
    np.testing.assert_allclose(smoothed.scale, np.maximum(smooth, np.median(smooth)), rtol=1e-9)
    assert smoothed.loc == prof.loc


def test_a_silent_row_keeps_the_typical_scale():
    maps = [np.vstack([m[:2], np.zeros((1, m.shape[1]))]) for m in noise_maps(2, 4, 500)]
    prof = fit_row_profile(maps, rows_smoothing=1)
    _, raw = _two_sided(maps)
    assert prof.scale[2] == pytest.approx(float(np.median(raw)))
    assert np.isfinite(prof.apply(maps[0])).all()
    silent = fit_row_profile([np.zeros((3, 50))] * 3, rows_smoothing=1)
    assert min(silent.scale) > 0 and np.isfinite(silent.apply(np.zeros((3, 50)))).all()


def test_edge_factors_measure_how_much_higher_normal_maps_run_at_the_clip_ends():
    k = 2.0
    # first and last 3 frames raised k times, measured over 3 offsets: k, k, k
    prof = fit_row_profile(noise_maps(3, 200, 200, edge=3, factor=k, **ALIKE), edge_frames=3,
                           rows_smoothing=1)
    np.testing.assert_allclose(prof.edge, [k, k, k], rtol=0.08)
    # measured over 6 offsets: k on the raised frames, 1 inside; the 3-offset smoothing
    # blends the step: (k, k, (2k + 1) / 3, (k + 2) / 3, 1, 1)
    prof6 = fit_row_profile(noise_maps(3, 200, 200, edge=3, factor=k, **ALIKE), edge_frames=6,
                            rows_smoothing=1)
    want = [k, k, (2 * k + 1) / 3, (k + 2) / 3, 1.0, 1.0]
    np.testing.assert_allclose(prof6.edge, want, rtol=0.08)
    assert min(prof6.edge) >= 1.0  # never below 1
    # applied: the ends are divided by their factors, the interior is left alone
    m = noise_maps(4, 1, 200, edge=3, factor=k, **ALIKE)[0]
    z = prof.apply(m)
    plain = RowProfile(prof.loc, prof.scale).apply(m)
    np.testing.assert_allclose(z[:, 3:-3], plain[:, 3:-3])
    np.testing.assert_allclose(z[:, :3], plain[:, :3] / np.float32(prof.edge)[None, :],
                               rtol=1e-6)
    np.testing.assert_allclose(z[:, -3:], plain[:, -3:] / np.float32(prof.edge[::-1])[None, :],
                               rtol=1e-6)
    # maps without raised ends get no edge factor above 1 (to the noise)
    flat = fit_row_profile(noise_maps(5, 200, 200, **ALIKE), edge_frames=3, rows_smoothing=1)
    np.testing.assert_allclose(flat.edge, 1.0, atol=0.06)


def test_row_profile_round_trips_exactly_and_damaged_profiles_are_refused():
    prof = fit_row_profile(noise_maps(6, 10, 100, edge=3, factor=1.5), edge_frames=3)
    assert RowProfile.from_dict(prof.to_dict()) == prof
    cal = dataclasses.replace(
        calibrate([prof.apply(m) for m in noise_maps(7, 3, 100)], [1.0, 2.0, 3.0],
                  held_out=True), rows=prof)
    back = Calibration.from_dict(cal.to_dict())
    assert back == cal and back.rows == prof
    # files from before the row profile: none, maps used raw
    old = cal.to_dict()
    del old["rows"]
    assert Calibration.from_dict(old).rows is None
    for key, value in (("scale", [1.0] * 7 + [0.0]), ("scale", [1.0] * 7 + [-1.0]),
                       ("scale", [1.0] * 7 + [float("nan")]), ("scale", [float("inf")] * 8),
                       ("loc", [0.0] * 7 + [float("nan")]), ("edge", [1.0, 0.0, 1.0]),
                       ("edge", [float("inf")]), ("scale", [1.0] * 7), ("loc", [])):
        bad = cal.to_dict()
        bad["rows"] = {**bad["rows"], key: value}
        with pytest.raises(ModelFileError, match=r"calibration block is damaged \(row profile"):
            Calibration.from_dict(bad)


def test_row_profile_refuses_maps_of_another_front_end_and_bad_maps():
    prof = fit_row_profile(noise_maps(8, 2, 50))
    with pytest.raises(ModelFileError, match="row profile has 8 rows but the map 7"):
        prof.apply(np.zeros((7, 50)))
    with pytest.raises(ModelFileError, match="row profile has 8 rows"):
        prof.apply(np.zeros(8))
    with pytest.raises(ParameterError, match="no maps"):
        fit_row_profile([])
    with pytest.raises(ParameterError, match="same number of rows"):
        fit_row_profile([np.zeros((8, 10)), np.zeros((7, 10))])
    with pytest.raises(ParameterError, match="non-finite"):
        fit_row_profile([np.full((8, 10), np.nan)])


def test_the_energy_focus_moves_the_peak_to_the_band_the_sound_adds_energy_to():
    """A broad hill peaking at row 16 over a tone whose energy lies in rows 12-13: the focus
    moves the peak into the tone's rows; without excess energy, or with no gain, the map is
    unchanged; the gain is at most ``focus_gain`` of the neighbourhood's top."""
    n_rows, n_t = 40, 60
    r = np.arange(n_rows)[:, None]
    t = np.arange(n_t)[None, :]
    hill = (9.2 * np.exp(-((r - 16) / 8.0) ** 2) * np.exp(-((t - 30) / 12.0) ** 2)).astype(
        np.float32)
    ceiling = np.full(n_rows, 1.0)
    prof = RowProfile((0.0,) * n_rows, (1.0,) * n_rows, (), tuple(ceiling), 0.25, (17, 9))
    quiet = np.full((n_rows, n_t), 0.5)  # everywhere under its ceiling
    np.testing.assert_array_equal(prof.focus(hill, prof.excess_power(quiet)), hill)
    tone = quiet.copy()
    tone[12:14, 20:40] = 200.0  # 20x the reference (10 x the median ceiling)
    out = prof.focus(hill, prof.excess_power(tone))
    peak = np.unravel_index(int(np.argmax(out)), out.shape)
    assert peak[0] in (12, 13) and 20 <= peak[1] < 40
    assert np.argmax(hill.max(1)) == 16  # it was not there before
    assert (out - hill).max() <= 0.25 * hill.max() + 1e-5
    np.testing.assert_array_equal(prof.focus(hill, None), hill)  # no statistics: unchanged
    np.testing.assert_array_equal(out[:, :10], hill[:, :10])  # far from the tone: untouched
    off = RowProfile((0.0,) * n_rows, (1.0,) * n_rows, (), tuple(ceiling))  # older files
    np.testing.assert_array_equal(off.focus(hill, off.excess_power(tone)), hill)
    back = RowProfile.from_dict(prof.to_dict())
    assert back == prof
    with pytest.raises(ValueError, match="focus_gain"):
        RowProfile.from_dict({**prof.to_dict(), "focus_gain": -1})


def test_the_focus_across_bands_moves_the_peak_to_a_distant_band_holding_the_energy():
    """A knock's energy in rows 5-15 (the loud low bands), the detector's hill at row 32 where
    the background is quiet (a low bump of 2 at row 10), far beyond a local focus's 8 rows: the
    local focus keeps the peak on the hill, the focus across bands moves it into row 10, where
    most energy is added, at the hill's height plus its own value. A weak excess elsewhere in the clip barely moves the
    map; cells without excess and frames away from it keep their value; old files (no field)
    read as local, and the field survives a round trip."""
    n_rows, n_t = 40, 60
    r = np.arange(n_rows)[:, None]
    t = np.arange(n_t)[None, :]
    # the detector's hill, and the little it sees of the knock in the loud bands
    hill = ((9.0 * np.exp(-((r - 32) / 4.0) ** 2) + 2.0 * np.exp(-((r - 10) / 4.0) ** 2))
            * np.exp(-((t - 30) / 6.0) ** 2)).astype(np.float32)
    ceiling = tuple(np.full(n_rows, 1.0))
    local = RowProfile((0.0,) * n_rows, (1.0,) * n_rows, (), ceiling, 1.0, (17, 9))
    across = dataclasses.replace(local, focus_across=True)
    power = np.full((n_rows, n_t), 0.5)
    energy = 400.0 * np.exp(-((np.arange(n_rows) - 10) / 3.0) ** 2)  # 40x the reference at row 10
    power[5:16, 26:35] += energy[5:16, None]
    power[31:34, 26:35] += 3.0  # the little energy the knock adds up there
    exc = local.excess_power(power)
    out_local = local.focus(hill, exc)
    assert np.unravel_index(int(np.argmax(out_local)), hill.shape)[0] in range(29, 36)
    out = across.focus(hill, exc)
    peak = np.unravel_index(int(np.argmax(out)), out.shape)
    assert peak[0] == 10 and 26 <= peak[1] < 35
    assert out.max() == pytest.approx(hill[10, peak[1]] + hill[:, peak[1] - 4:peak[1] + 5].max()
                                      * -np.expm1(-(energy[10] - 0.5) / 10.0), rel=1e-5)
    np.testing.assert_array_equal(out[:, :20], hill[:, :20])  # frames away from the knock
    np.testing.assert_array_equal(out[20:30], hill[20:30])  # no excess there
    weak = np.full((n_rows, n_t), 0.5)
    weak[3, 30] = 1.2  # a normal fluctuation just over its ceiling
    assert (across.focus(hill, across.excess_power(weak)) - hill).max() < 0.02 * hill.max()
    assert RowProfile.from_dict(across.to_dict()) == across
    assert RowProfile.from_dict({k: v for k, v in across.to_dict().items()
                                 if k != "focus_across"}).focus_across is False
    with pytest.raises(ValueError, match="focus_across"):
        RowProfile.from_dict({**across.to_dict(), "focus_across": "yes"})


def _knock_far_from_its_hill(n_rows: int = 40, n_t: int = 60):
    """The hill of the test above (peak 9 at row 32, frames around 30) and a knock's power
    in rows 5-15, frames 26-34, 40x the focus's reference at row 10."""
    r = np.arange(n_rows)[:, None]
    t = np.arange(n_t)[None, :]
    hill = ((9.0 * np.exp(-((r - 32) / 4.0) ** 2) + 2.0 * np.exp(-((r - 10) / 4.0) ** 2))
            * np.exp(-((t - 30) / 6.0) ** 2)).astype(np.float32)
    power = np.full((n_rows, n_t), 0.5)
    power[5:16, 26:35] += (400.0 * np.exp(-((np.arange(n_rows) - 10) / 3.0) ** 2))[5:16, None]
    power[31:34, 26:35] += 3.0
    return hill, power


def test_frames_the_detector_flags_also_focus_across_bands_and_the_rest_stays_local():
    """``across_level``: where the frames' map reaches it (the hill, 9, over a level of 5),
    the knock's band, 22 rows from the hill, takes the peak as with ``focus_across``, on top
    of the local focus, while each frame keeps its local maximum (so the clip score); with the level above the hill (an event the detector does not flag)
    or absent (older files), the map is the local focus's exactly, so normal sound under the
    threshold keeps its map. The level survives a round trip; a non-number is refused."""
    hill, power = _knock_far_from_its_hill()
    ceiling = tuple(np.full(hill.shape[0], 1.0))
    local = RowProfile((0.0,) * hill.shape[0], (1.0,) * hill.shape[0], (), ceiling, 1.0, (17, 9))
    flagged = dataclasses.replace(local, across_level=5.0)
    exc = local.excess_power(power)
    out_local = local.focus(hill, exc)
    assert np.unravel_index(int(np.argmax(out_local)), hill.shape)[0] in range(29, 36)
    out = flagged.focus(hill, exc)
    peak = np.unravel_index(int(np.argmax(out)), out.shape)
    assert peak[0] == 10 and 26 <= peak[1] < 35
    across = dataclasses.replace(local, focus_across=True).focus(hill, exc)
    # in the frames reaching the level: the two terms added up (the local focus's gain plus
    # the focus across bands' gain), and what passes the knee (the level, or the frame's
    # lowest value where its own local maximum is under the level) compressed linearly onto
    # the local focus's top there, so every frame's highest value, and the clip score, are
    # the local focus's; values under the knee keep the sum
    on = hill.max(axis=0) >= 5.0
    on = np.convolve(on, np.ones(9), mode="same") > 0  # the neighbourhood: 4 frames either way
    assert 0 < on.sum() < hill.shape[1]
    both = (out_local + (across - hill)).astype(np.float64)[:, on]
    hi = out_local[:, on].max(axis=0)
    knee = np.where(hi > 5.0, 5.0, out_local[:, on].min(axis=0))
    assert (knee == 5.0).any() and (knee < 5.0).any()  # both kinds of frame
    squeezed = knee + (both - knee) * (hi - knee) / (both.max(axis=0) - knee)
    want = np.where(both > knee, squeezed, both)
    np.testing.assert_allclose(out[:, on], want, rtol=1e-5, atol=1e-5)
    under = (both < 5.0) & (knee == 5.0)  # frames over the level: their normal range kept
    assert under.sum() > 100
    np.testing.assert_allclose(out[:, on][under], both[under], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[:, ~on], out_local[:, ~on])
    np.testing.assert_allclose(out.max(axis=0), out_local.max(axis=0), rtol=1e-6)
    assert out.max() == pytest.approx(float(out_local.max()), rel=1e-6)
    np.testing.assert_array_equal(out[:, :20], hill[:, :20])  # frames away from the knock
    quiet = dataclasses.replace(local, across_level=9.5)  # the hill never reaches it
    np.testing.assert_array_equal(quiet.focus(hill, exc), out_local)
    assert RowProfile.from_dict(flagged.to_dict()) == flagged
    assert "across_level" not in local.to_dict()
    assert RowProfile.from_dict(local.to_dict()).across_level is None
    for bad in ("5", float("nan"), True):
        with pytest.raises(ValueError, match="across_level"):
            RowProfile.from_dict({**flagged.to_dict(), "across_level": bad})
