"""Streaming scoring of long recordings (issue 14): the pieces equal the whole.

Known answers: a map profiled, focused and cut into events in pieces equals the same map done at
once; a 3-minute recording scored in a stream into a store has the map, frame scores, clip score
and flagged events of whole-file scoring, and its events lie on the burst injected into it; the
threshold at the calibration's own rate per hour is the clip threshold.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf
from machine_sounds import SR, machine_model_and_long_recording, machine_tone

from specview.calibration import Calibration, RowProfile
from specview.errors import ParameterError
from specview.longscore import StreamEvents, StreamFocus
from specview.longstore import FORMAT, LongStore, StoreError, StoreWriter
from specview.metrics import event_regions, flagged_regions
from specview.types import Box


def _profile(n_rows: int) -> RowProfile:
    rng = np.random.default_rng(0)
    return RowProfile(tuple(rng.uniform(0, 1, n_rows)), tuple(rng.uniform(0.5, 2, n_rows)),
                      edge=(1.6, 1.3, 1.1), power_ceiling=tuple(rng.uniform(0.5, 1, n_rows)),
                      focus_gain=0.25, focus_size=(17, 9))


def _pieces(n: int, rng) -> list[tuple[int, int]]:
    cuts = np.sort(rng.choice(np.arange(1, n), size=6, replace=False))
    edges = [0, *cuts.tolist(), n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def test_profile_of_pieces_equals_profile_of_the_whole(rng):
    rows = _profile(12)
    amap = rng.normal(size=(12, 200)).astype(np.float32)
    whole = rows.apply(amap)
    parts = [rows.apply(amap[:, a:b], offset=a, total=200) for a, b in _pieces(200, rng)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    # the edge factors reach the recording's own ends only
    assert not np.array_equal(whole[:, 0], (amap[:, 0] - np.array(rows.loc, np.float32))
                              / np.array(rows.scale, np.float32))


@pytest.mark.parametrize(("across", "level"), [(False, None), (True, None), (False, 1.5)])
def test_focus_of_pieces_equals_focus_of_the_whole(rng, across, level):
    rows = dataclasses.replace(_profile(12), focus_across=across, across_level=level)
    amap = rng.normal(size=(12, 300)).astype(np.float32)
    exc = np.maximum(rng.normal(size=(12, 300)), 0).astype(np.float32)
    whole = rows.focus(amap, exc)
    f = StreamFocus(rows)
    got, firsts = [], []
    pieces = _pieces(300, rng)
    for i, (a, b) in enumerate(pieces):
        first, focused, prof, e = f.push(amap[:, a:b], exc[:, a:b], final=i == len(pieces) - 1)
        firsts.append((first, focused.shape[1]))
        got.append(focused)
        np.testing.assert_array_equal(prof, amap[:, first:first + prof.shape[1]])
        np.testing.assert_array_equal(e, exc[:, first:first + e.shape[1]])
    np.testing.assert_array_equal(np.concatenate(got, axis=1), whole)
    assert sum(n for _, n in firsts) == 300
    if level is not None:  # some frames reach the level, some do not: both kinds are pieced
        top = amap.max(axis=0)
        assert (top >= level).any() and (top < level).any()
        assert not np.array_equal(whole, dataclasses.replace(rows, across_level=None).focus(
            amap, exc))


@pytest.mark.parametrize("floor", [None, 0.9])
def test_events_of_pieces_equal_events_of_the_whole(rng, floor):
    spf = 0.02
    n = 3000
    freqs = np.linspace(100, 8000, 16)
    amap = rng.normal(0, 0.3, size=(16, n)).astype(np.float32)
    # bursts: one long, two 0.3 s apart (one event), one at the very end; each on a shoulder
    # between the floor and the threshold that a region with the floor grows over
    for t0, t1, r0, r1 in ((100, 160, 3, 6), (900, 920, 8, 12), (935, 950, 8, 12),
                           (2000, 2400, 1, 15), (2990, 3000, 5, 7)):
        amap[max(r0 - 1, 0):r1 + 1, max(t0 - 8, 0):t1 + 8] += 0.8
        amap[r0:r1, t0:t1] += 2.2
    exc = np.maximum(amap - 1.0, 0).astype(np.float32)
    times = np.arange(n) * spf
    normal = np.full(16, 0.5)
    whole = event_regions(flagged_regions(amap, times, freqs, 1.5, base=0.0, relative=0.2,
                                          floor=floor), exc, times, freqs, normal_power=normal)
    ev = StreamEvents(1.5, 0.0, freqs, spf, normal, relative=0.2, floor=floor)
    pieces = _pieces(n, rng)
    for i, (a, b) in enumerate(pieces):
        ev.push(amap[:, a:b], exc[:, a:b], final=i == len(pieces) - 1)
    def row(b, s, c):  # box edges to 1e-9 s: a piece's first cell edge is extrapolated
        return (round(b.t0, 9), round(b.t1, 9), round(b.f0, 6), round(b.f1, 6), s, c)

    assert sorted(row(*e) for e in ev.events) == sorted(
        row(r.box, r.score, r.n_cells) for r in whole)
    assert len(whole) == 4
    if floor is not None:  # the floor grew the events over their shoulders
        plain = event_regions(flagged_regions(amap, times, freqs, 1.5, base=0.0, relative=0.2),
                              exc, times, freqs, normal_power=normal)
        assert sum(r.n_cells for r in whole) > sum(r.n_cells for r in plain) + 500
    # held frames stay bounded: everything before the last quiet stretch was handed on
    assert ev.map.shape[1] < 200


def test_threshold_per_hour_matches_the_clip_threshold():
    cal = Calibration((0.5, 1.0), (0.0, 5.0), (), tuple(np.linspace(2, 4, 10)), 10, True)
    per_hour = cal.flags_per_hour(5.0)
    assert per_hour == pytest.approx(36.0)  # 5 % of 5-s clips
    assert cal.threshold_per_hour(per_hour, block_seconds=5.0) == pytest.approx(cal.threshold)
    # fewer false flags an hour: a higher threshold
    assert cal.threshold_per_hour(1.0, block_seconds=5.0) > cal.threshold
    with pytest.raises(ParameterError, match="per hour"):
        cal.threshold_per_hour(720.0, block_seconds=5.0)
    with pytest.raises(ParameterError):
        cal.threshold_per_hour(0.0, block_seconds=5.0)


def test_store_round_trip_and_slices(tmp_path):
    spf, n = 0.01, 20000
    freqs = np.linspace(0, 1000, 4)
    w = StoreWriter(tmp_path / "s.zarr", n_time=n, freqs=freqs, mel_freqs=freqs,
                    seconds_per_frame=spf, attrs={"threshold": 2.0, "median": 0.0},
                    chunk_frames=4096, overview_frames=32)
    amap = (np.arange(4 * n, dtype=np.float32).reshape(4, n) % 97) / 10
    power = np.full((4, n), 1e-3)
    for a in range(0, n, 3001):
        b = min(n, a + 3001)
        w.add_map(a, amap[:, a:b], amap[:, a:b].max(axis=0), amap[:, a:b].min(axis=0))
        w.add_power(a, power[:, a:b])
        if a == 0:  # events are readable while scoring goes on
            w.add_events([(Box(1.0, 2.0, 10.0, 500.0), 4.0, 12)])
            assert [e.box.t0 for e in LongStore(tmp_path / "s.zarr").events()] == [1.0]
    w.finish([(Box(1.0, 2.0, 10.0, 500.0), 4.0, 12)], {"clip_score": 9.6})
    s = LongStore(tmp_path / "s.zarr")
    assert s.complete and s.frames_done == n and s.n_time == n
    m, t = s.map(50.0, 60.0)
    assert t[0] == pytest.approx(50.0) and t[-1] == pytest.approx(60.0)
    np.testing.assert_allclose(m, amap[:, 5000:6001], rtol=1e-3)
    fs, _ = s.frame_scores(0, 0.05)
    np.testing.assert_allclose(fs, amap[:, :6].max(axis=0))
    power_db, score, ot, _ = s.overview()
    assert power_db.shape == (4, -(-n // 32)) and np.allclose(power_db, -30.0)
    # the region map's highest cell over each group (here the map's column minimum was given)
    np.testing.assert_allclose(score[:3], [amap[:, 32 * i:32 * i + 32].min(axis=0).max()
                                           for i in range(3)], rtol=1e-6)
    assert ot[1] == pytest.approx(0.32)
    [e] = s.events()
    assert e.box == Box(1.0, 2.0, 10.0, 500.0) and e.peak == pytest.approx(2.0) and e.n_cells == 12


def test_a_foreign_folder_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="no such"):
        LongStore(tmp_path / "missing")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a specview results store"):
        LongStore(tmp_path / "x")
    assert FORMAT.startswith("specview-long/")


# -- a real model on a 3-minute recording ---------------------------------------------------------

@pytest.fixture(scope="module")
def model_and_recording(tmp_path_factory):
    return machine_model_and_long_recording(tmp_path_factory.mktemp("long"))


@pytest.mark.weights
def test_streaming_equals_whole_file_scoring(model_and_recording, tmp_path):
    from specview.longscore import score_long

    model, rec = model_and_recording
    whole = model.score_file(rec).result
    done = []
    summary = score_long(model, rec, tmp_path / "long.zarr", block_seconds=7.0,
                         progress=lambda a, b: done.append((a, b)))
    store = LongStore(tmp_path / "long.zarr")
    m, times = store.map()
    assert m.shape == whole.map.shape
    np.testing.assert_allclose(times, whole.times)
    np.testing.assert_allclose(m, whole.map, rtol=2e-3, atol=2e-3)  # float16 in the store
    fs, _ = store.frame_scores()
    np.testing.assert_allclose(fs, whole.frame_scores, rtol=1e-4, atol=1e-4)
    assert summary.clip_score == pytest.approx(whole.clip_score, rel=1e-5)
    from specview.pipeline import window_plan

    n = whole.map.shape[1]
    assert done[-1] == (n, n) and len(done) == len(window_plan(model.encoder, n)) == 4
    # the flagged events at the threshold of the calibration's own rate per hour, found on the
    # whole map as Model.flagged finds them
    cal = model.calibration
    assert summary.threshold == pytest.approx(model.threshold_per_hour())
    assert len(cal.extras["block_max"]) >= 3 and cal.extras["block_seconds"] == pytest.approx(
        1.0, abs=0.02)
    rows = cal.rows
    expected = event_regions(
        flagged_regions(whole.extras["region_map"], whole.times, whole.freqs, summary.threshold,
                        base=cal.median),
        whole.extras["excess_power"], whole.times, whole.freqs,
        normal_power=np.asarray(rows.power_ceiling))
    assert expected
    got = sorted(summary.events, key=lambda e: e.box.t0)
    assert [(round(e.box.t0, 4), round(e.box.f0, 1), round(e.box.f1, 1)) for e in got] == [
        (round(r.box.t0, 4), round(r.box.f0, 1), round(r.box.f1, 1))
        for r in sorted(expected, key=lambda r: r.box.t0)]
    assert [e.box for e in store.events()] == [e.box for e in got]
    # the burst is found where it was put
    hit = [e for e in got if e.box.t0 <= 121.6 and e.box.t1 >= 121.0]
    assert hit and hit[0].box.f0 <= 3000 <= hit[0].box.f1
    assert abs(summary.peak_time - 121.3) < 0.5


@pytest.mark.weights
def test_score_files_writes_the_store_events_and_raven_table(model_and_recording, tmp_path):
    from specview.annotations import read_raven
    from specview.errors import AudioError
    from specview.scoring import EVENT_COLUMNS, score_files

    model, rec = model_and_recording
    out = tmp_path / "out"
    seen = []
    rows = score_files(model, [rec], out, long_seconds=60.0, per_hour=5.0,
                       progress=lambda d, t: seen.append((d, t)))
    [row] = rows
    assert row["map"] == "long/long.zarr" and (out / "long" / "long.zarr").is_dir()
    store = LongStore(out / "long" / "long.zarr")
    assert store.complete and store.attrs["per_hour"] == 5.0
    assert store.threshold == pytest.approx(model.threshold_per_hour(5.0))
    assert seen[-1][0] == pytest.approx(seen[-1][1]) and seen[-1][1] == pytest.approx(185.3, 1e-3)
    text = (out / "long" / "long.events.csv").read_text()
    assert text.splitlines()[0].split(",") == list(EVENT_COLUMNS)
    boxes = read_raven(out / "long" / "long.selections.txt")
    assert [(round(b.t0, 3), round(b.t1, 3)) for b in boxes] == [
        (round(e.box.t0, 3), round(e.box.t1, 3)) for e in store.events()]
    assert row["events"] == len(boxes) >= 1
    # a failed run (a damaged second file) leaves the earlier results as they were
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.wav"  # passes the header checks, fails once read
    x = machine_tone(5.0, seed=3)
    x[SR * 4] = np.nan
    sf.write(bad, x, SR, subtype="FLOAT")
    with pytest.raises(AudioError):
        score_files(model, [rec, bad], out, long_seconds=60.0)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.weights
def test_cli_score_on_a_long_recording(model_and_recording, tmp_path, monkeypatch, capsys):
    from specview import cli, longscore

    model, rec = model_and_recording
    path = tmp_path / "m.safetensors"
    model.save(path)
    monkeypatch.setattr(longscore, "LONG_SECONDS", 60.0)
    out = tmp_path / "out"
    assert cli.main(["score", str(path), str(rec), "--out", str(out),
                     "--false-flags-per-hour", "2"]) == 0
    text = capsys.readouterr()
    assert "flagged event(s)" in text.out and "real time" in text.err
    assert LongStore(out / "long" / "long.zarr").attrs["per_hour"] == 2.0
    # a rate of one flag per calibration block or more is refused before any scoring
    code = cli.main(["score", str(path), str(rec), "--out", str(tmp_path / "o2"),
                     "--false-flags-per-hour", "100000"])
    assert code == 2 and "per hour" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()
