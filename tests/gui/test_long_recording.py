"""Recordings longer than LONG_SECONDS in the window: overview, detail spans, paging, events.

LONG_SECONDS is lowered to 20 s and the default span to 20 s so that a 60 s recording plays the
part of a long one; the stores go to a throw-away cache.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gui_mouse import drag
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from specview import audiostream, longscore
from specview.annotations import read_raven, sidecar_path
from specview.gui import long_recording as LR
from specview.longstore import LongStore

SR = 44100
TIMEOUT = 60000
DURATION = 60.0
BURST = (37.0, 37.6, 4000.0)  # t0, t1 s, Hz


def machine_tone(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """The hum of the tiny dataset (tests/gui/conftest.py), as long as asked."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(0.2 / k * np.sin(2 * np.pi * 120 * k * t + rng.uniform(0, 2 * np.pi))
            for k in range(1, 8))
    return (x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def made_recording(tmp_path_factory) -> Path:
    """60 s of machine hum with a 4 kHz burst at 37.0-37.6 s."""
    from specview.audio import write_audio

    rng = np.random.default_rng(7)
    x = machine_tone(rng, DURATION)
    t = np.arange(len(x)) / SR
    on = (t >= BURST[0]) & (t < BURST[1])
    x[on] += 0.3 * np.sin(2 * np.pi * BURST[2] * t[on])
    path = tmp_path_factory.mktemp("long") / "long.wav"
    write_audio(path, x, SR)
    return path


@pytest.fixture
def recording(made_recording, tmp_path) -> Path:
    """A private copy (tests write its sidecar)."""
    dst = tmp_path / "rec" / made_recording.name
    dst.parent.mkdir()
    shutil.copy(made_recording, dst)
    return dst


@pytest.fixture
def long_mode(monkeypatch, tmp_path):
    """LONG_SECONDS 20 s, spans of 20 s, a private cache; reads recorded with their thread."""
    monkeypatch.setattr(longscore, "LONG_SECONDS", 20.0)
    monkeypatch.setattr(LR, "DEFAULT_SPAN", 20.0)
    monkeypatch.setenv("SPECVIEW_CACHE", str(tmp_path / "cache"))
    calls: list[tuple[str, threading.Thread]] = []
    for mod, name in ((LR, "load_audio"), (audiostream, "iter_power")):
        real = getattr(mod, name)

        def spy(*a, _real=real, _name=name, **kw):
            calls.append((_name, threading.current_thread()))
            return _real(*a, **kw)

        monkeypatch.setattr(mod, name, spy)
    return calls


def load_model(qtbot, win, path: Path) -> None:
    with qtbot.waitSignal(win.state.model_changed, timeout=TIMEOUT):
        win.controller.load_model(path)


def wait_span(qtbot, win, t0: float, t1: float) -> None:
    qtbot.waitUntil(lambda: win.state.span is not None
                    and win.state.span == (pytest.approx(t0), pytest.approx(t1))
                    and win.controller.long._span_job is None, timeout=TIMEOUT)


def wait_complete(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.state.long is not None and win.state.long.complete
                    and win.controller.task is None, timeout=TIMEOUT)


def viewport_point(win, t: float, hz: float) -> QPoint:
    return win.view.glw.mapFromScene(win.view.scene_pos_of(t, hz))


def test_long_recording_overview_detail_paging_events_and_boxes(
        qtbot, window, recording, model_path, long_mode) -> None:
    state, lc = window.state, window.controller.long
    load_model(qtbot, window, model_path)
    window.controller.open_clip(recording)
    # at once, before any job has run: the name and the length from the header
    assert "long.wav" in window.windowTitle() and "1:00.0" in window.windowTitle()
    assert "long.wav" in window.statusBar().currentMessage()
    assert state.display is None and state.long is not None and window.overview.isVisible()

    # the overview fills in over the whole duration; the first span shows 0-20 s
    wait_complete(qtbot, window)
    rec = state.long
    assert rec.scored and rec.power_cols == rec.n_cols and np.isfinite(rec.power_db).all()
    assert np.isfinite(rec.score_max).all()
    assert rec.n_cols * rec.column_seconds == pytest.approx(DURATION, abs=rec.column_seconds)
    window.overview.refresh_data()
    rect = window.overview.image.mapRectToParent(window.overview.image.boundingRect())
    assert rect.left() == pytest.approx(0.0) and rect.right() >= DURATION - rec.column_seconds
    assert window.overview.spec_vb.viewRange()[0] == [pytest.approx(0.0),
                                                      pytest.approx(DURATION)]
    assert window.overview.curve.xData is not None and len(window.overview.curve.xData) == rec.n_cols
    wait_span(qtbot, window, 0.0, 20.0)

    # a span in detail, in the recording's own seconds
    lc.request_span(30.0, 50.0)
    wait_span(qtbot, window, 30.0, 50.0)
    spf = rec.seconds_per_frame
    d = state.display
    k0 = int(np.floor((30.0 - LR.MARGIN) / spf + 1e-9))
    assert d.times[0] == pytest.approx(k0 * spf) and d.times[0] == pytest.approx(29.0, abs=spf)
    assert d.times[-1] == pytest.approx(51.0, abs=2 * spf)
    assert np.allclose(np.diff(d.times), spf)
    r = state.result
    assert r is not None and np.array_equal(r.times, d.times) and r.map.shape == d.values.shape
    store_map, _ = LongStore(rec.store).map(float(d.times[0]), float(d.times[-1]))
    assert np.array_equal(r.map, store_map)
    if window.view.picture_kind == "grid":  # the span's encoder grid, until ...
        img = window.view.spec_item.mapRectToParent(window.view.spec_item.boundingRect())
        assert img.left() == pytest.approx(d.times[0] - spf / 2, abs=1e-6)
    # ... the display spectrogram of the loaded span (its audio alone, at the file's rate)
    qtbot.waitUntil(lambda: window.view.picture_kind == "fine", timeout=TIMEOUT)
    fine = window.view.picture
    assert fine.times[0] == pytest.approx(d.times[0]) and fine.times[-1] == pytest.approx(
        d.times[0] + d.duration, abs=0.05)
    img = window.view.spec_item.mapRectToParent(window.view.spec_item.boundingRect())
    assert img.left() < 29.0 < 51.0 < img.right() + 0.05
    assert window.view.vb.viewRange()[0] == [pytest.approx(30.0), pytest.approx(50.0)]
    assert window.overview.region() == (pytest.approx(30.0), pytest.approx(50.0))

    # playback plays the span, from the recording's own seconds (render runs in a job when
    # playing; called here directly, so its reads are not counted below)
    n_calls = len(long_mode)
    x, sr, start, _speed = window.listener.render("visible")
    assert sr == SR and start == pytest.approx(30.0) and len(x) == pytest.approx(20 * SR, abs=2)
    window.listener.set_cursor(45.0)
    x, sr, start, _speed = window.listener.render("clip")  # from the cursor to the span's end
    assert start == pytest.approx(45.0)
    assert len(x) / sr == pytest.approx(d.times[0] + d.duration - 45.0, abs=1e-3)
    window.listen_panel.source.setCurrentText("anomaly only (model)")  # the map's mask, shifted
    x, sr, start, _speed = window.listener.render("visible")
    assert len(x) == pytest.approx(20 * SR, abs=2) and np.isfinite(x).all()
    window.listen_panel.source.setCurrentText("as recorded")
    del long_mode[n_calls:]

    # paging, span by span (the last one ends at the end of the recording)
    window.view.setFocus()
    QTest.keyClick(window.view, Qt.Key.Key_PageDown)
    wait_span(qtbot, window, 40.0, 60.0)
    window.menu_actions["previous_page"].trigger()
    wait_span(qtbot, window, 20.0, 40.0)

    # N / P across the whole file: to the event holding the burst, and back
    events = rec.events
    hit = [i for i, e in enumerate(events) if e.box.t0 <= 37.3 <= e.box.t1]
    assert len(hit) == 1
    k = hit[0]
    assert events[k].peak == max(e.peak for e in events) and events[k].peak > 1.0
    assert events[k].box.f0 <= BURST[2] <= events[k].box.f1
    if k > 0:
        lc.show_event(k - 1)
        c = (events[k - 1].box.t0 + events[k - 1].box.t1) / 2
        qtbot.waitUntil(lambda: state.selected_region is not None
                        and lc._span_job is None, timeout=TIMEOUT)
    else:
        lc.request_span(0.0, 20.0)
        wait_span(qtbot, window, 0.0, 20.0)
    window.menu_actions["next_item"].trigger()  # N
    qtbot.waitUntil(lambda: lc._span_job is None and state.selected_region is not None
                    and state.flagged[state.selected_region].box == events[k].box,
                    timeout=TIMEOUT)
    c = (events[k].box.t0 + events[k].box.t1) / 2
    assert (state.span[0] + state.span[1]) / 2 == pytest.approx(c, abs=1e-6)
    assert state.span[1] - state.span[0] == pytest.approx(20.0)
    if k > 0:
        window.menu_actions["previous_item"].trigger()  # P
        qtbot.waitUntil(lambda: lc._span_job is None and state.selected_region is not None
                        and state.flagged[state.selected_region].box == events[k - 1].box,
                        timeout=TIMEOUT)

    # a box drawn on the span is saved in seconds of the recording
    lc.request_span(30.0, 50.0)
    wait_span(qtbot, window, 30.0, 50.0)
    n_before = len(state.boxes)
    window.menu_actions["box_tool"].trigger()
    drag(window, viewport_point(window, 41.0, 1000.0), viewport_point(window, 43.0, 3000.0))
    qtbot.waitUntil(lambda: len(state.boxes) == n_before + 1, timeout=5000)
    new = state.boxes[-1]
    px = 2.0 * 20.0 / window.view.vb.width()
    assert new.t0 == pytest.approx(41.0, abs=2 * px) and new.t1 == pytest.approx(43.0, abs=2 * px)
    on_disk = read_raven(sidecar_path(recording))
    assert on_disk[-1].t0 == pytest.approx(new.t0) and on_disk[-1].t1 == pytest.approx(new.t1)
    # the evaluation panel measures the span against the boxes in it
    assert window.eval_panel.clip_scores is not None
    assert "span" in window.eval_panel.clip_note.text()
    assert "1 box" in window.eval_panel.clip_note.text()
    # paging away and back keeps the box where it was drawn
    window.menu_actions["box_tool"].trigger()
    window.menu_actions["next_page"].trigger()
    wait_span(qtbot, window, 40.0, 60.0)
    assert state.boxes[-1] == new

    # every read of the audio ran in a worker thread, never in the GUI thread
    main = threading.main_thread()
    assert {n for n, _ in long_mode} >= {"load_audio", "iter_power"}
    assert all(t is not main for _, t in long_mode)


def test_without_a_model_the_overview_alone_and_a_cached_store_is_reused(
        qtbot, window, recording, tiny_dataset, long_mode) -> None:
    state = window.state
    window.controller.open_clip(recording)
    wait_complete(qtbot, window)
    rec = state.long
    assert not rec.scored and not rec.reused and np.isfinite(rec.power_db).all()
    assert np.isnan(rec.score_max).all() and rec.events == []
    wait_span(qtbot, window, 0.0, 20.0)
    assert state.result is None and state.display.times[0] == pytest.approx(0.0)
    assert "load a model" in window.overview.note.toPlainText()
    window.menu_actions["next_item"].trigger()  # N: nothing to go to, and says so
    assert "no flagged event" in window.statusBar().currentMessage()
    # a short clip replaces it: the strip goes
    short = tiny_dataset / "test" / "normal_000.wav"
    window.controller.open_clip(short)
    qtbot.waitUntil(lambda: state.clip_path == short, timeout=TIMEOUT)
    assert state.long is None and state.span is None and not window.overview.isVisible()
    # opened again: the complete store is read back from the cache
    t = time.perf_counter()
    window.controller.open_clip(recording)
    wait_complete(qtbot, window)
    assert state.long.reused and np.array_equal(state.long.power_db, rec.power_db)
    assert time.perf_counter() - t < 10.0
    assert all(t is not threading.main_thread() for _, t in long_mode)


def test_cancelling_the_scoring_leaves_the_window_usable(
        qtbot, window, recording, model_path, long_mode, monkeypatch) -> None:
    real = longscore.score_long

    def slow(model, path, store, *, progress=None, should_stop=None, **kw):
        def step(done, total):
            time.sleep(0.3)
            progress(done, total)
        return real(model, path, store, window_seconds=10.0, progress=step,
                    should_stop=should_stop)

    monkeypatch.setattr(longscore, "score_long", slow)
    state = window.state
    load_model(qtbot, window, model_path)
    window.controller.open_clip(recording)
    qtbot.waitUntil(lambda: state.long is not None and state.long.frames_scored > 0,
                    timeout=TIMEOUT)
    assert window.cancel_button.isVisible()
    window.cancel_button.click()
    qtbot.waitUntil(lambda: state.long.status == "cancelled" and window.controller.task is None,
                    timeout=TIMEOUT)
    rec = state.long
    assert not rec.complete and 0 < rec.frames_scored < rec.n_time
    assert not window.cancel_button.isVisible()
    # the window goes on: pages load (with their map where scoring got to), the overview stays
    assert rec.power_cols > 0
    wait_span(qtbot, window, 0.0, 20.0)
    window.menu_actions["next_page"].trigger()
    wait_span(qtbot, window, 20.0, 40.0)
    assert state.display.times[0] == pytest.approx(19.0, abs=rec.seconds_per_frame)
    # and another task can run
    assert window.controller.load_model(model_path) is not None
    wait_complete(qtbot, window)  # the model change scores the recording again


def test_a_store_written_by_specview_score_opens_with_its_results(
        qtbot, window, recording, model_path, long_mode, tmp_path) -> None:
    from specview import pipeline

    model = pipeline.load_model(model_path)
    folder = tmp_path / "out" / "long" / "long.zarr"  # where ``specview score`` puts it
    summary = longscore.score_long(model, recording, folder)
    window.open_path(folder)  # no model loaded: the store's own results are shown
    wait_complete(qtbot, window)
    rec = window.state.long
    assert rec.external and rec.scored and rec.store == folder and rec.path == recording
    assert [e.box for e in rec.events] == [e.box for e in summary.events]
    assert rec.calibration is not None
    assert rec.calibration.threshold == pytest.approx(summary.threshold)
    wait_span(qtbot, window, 0.0, 20.0)
    assert window.state.result is not None and window.state.flagged
    assert not (tmp_path / "cache").exists()  # nothing scored or written again
    # the strip draws the overview pooled off the GUI thread, the same as pooled afresh, and
    # keeps it while paging
    from specview.gui.pooling import PooledColumns

    strip = window.overview
    assert rec.pooled is not None and strip._pool is rec.pooled
    window.controller.long.page(+1)
    wait_span(qtbot, window, 20.0, 40.0)
    mine = PooledColumns(rec.fe.n_mels, rec.n_cols)
    mine.update(rec.power_db, rec.score_max)
    assert strip._pool is rec.pooled and strip._pool.factor == mine.factor
    np.testing.assert_array_equal(strip._pool.power, mine.power)
    np.testing.assert_array_equal(strip._pool.score, mine.score)


def test_loading_a_model_takes_over_from_the_overview_then_scores_the_recording(
        qtbot, window, recording, model_path, long_mode, monkeypatch) -> None:
    from specview import overview

    real = overview.write_overview

    def slow(path, fe, folder, *, progress=None, should_stop=None, **kw):
        def step(done, total):
            time.sleep(0.2)
            progress(done, total)
        return real(path, fe, folder, block_seconds=3.0, progress=step, should_stop=should_stop)

    monkeypatch.setattr(overview, "write_overview", slow)
    state = window.state
    window.controller.open_clip(recording)
    qtbot.waitUntil(lambda: state.long is not None and state.long.power_cols > 0,
                    timeout=TIMEOUT)
    assert not state.long.complete and window.menu_actions["load_model"].isEnabled()
    # the overview gives way: no "busy", the model loads, and the recording is scored
    assert window.controller.load_model(model_path) is not None
    qtbot.waitUntil(lambda: state.model is not None, timeout=TIMEOUT)
    wait_complete(qtbot, window)
    assert state.long.scored and state.long.events and window.last_error is None
    assert not window.progress.isVisible()


def test_scoring_cancelled_then_opened_again_goes_on_where_it_stopped(
        qtbot, window, recording, model_path, long_mode, monkeypatch, tmp_path) -> None:
    """Cancel half-way, open the recording again: only the windows left are scored, and the
    store equals that of a run never stopped."""
    from specview.pipeline import load_model as read_model
    from specview.pipeline import window_plan

    real = longscore.score_long
    runs: list[tuple[bool, list[int]]] = []

    def slow(model, path, store, *, progress=None, should_stop=None, resume=False, **kw):
        windows: list[int] = []
        runs.append((resume, windows))

        def step(done, total):
            windows.append(done)
            time.sleep(0.3)
            progress(done, total)
        return real(model, path, store, window_seconds=10.0, progress=step,
                    should_stop=should_stop, resume=resume)

    monkeypatch.setattr(longscore, "score_long", slow)
    state = window.state
    load_model(qtbot, window, model_path)
    window.controller.open_clip(recording)
    qtbot.waitUntil(lambda: state.long is not None and state.long.frames_scored > 0,
                    timeout=TIMEOUT)
    window.cancel_button.click()
    qtbot.waitUntil(lambda: state.long.status == "cancelled" and window.controller.task is None,
                    timeout=TIMEOUT)
    done_before = len(runs[0][1])
    model = read_model(model_path)
    n_windows = len(window_plan(model.encoder, state.long.n_time, 10.0))
    assert 0 < done_before < n_windows
    window.controller.open_clip(recording)  # opened again: scoring goes on
    wait_complete(qtbot, window)
    resumed, windows = runs[-1]
    assert resumed and len(runs) == 2 and len(windows) == n_windows - done_before
    straight = tmp_path / "straight.zarr"
    summary = real(model, recording, straight, window_seconds=10.0)
    got, want = LongStore(state.long.store), LongStore(straight)
    np.testing.assert_allclose(got.map()[0], want.map()[0], rtol=1e-5, atol=1e-5)
    assert [e.box for e in got.events()] == [e.box for e in summary.events]
    assert [e.box for e in state.long.events] == [e.box for e in summary.events]
    assert state.long.clip_score == pytest.approx(summary.clip_score, rel=1e-6)


def test_opening_a_recording_evicts_the_oldest_stores_over_the_cap_never_its_own(
        qtbot, window, recording, long_mode, monkeypatch, tmp_path) -> None:
    import os

    from specview import longcache

    cache = LR.cache_root()
    old = cache / "old-0123456789abcdef.zarr"
    (old / "map").mkdir(parents=True)
    (old / "map" / "0").write_bytes(b"\0" * 200_000)
    os.utime(old, (1000.0, 1000.0))
    monkeypatch.setenv(longcache.ENV, "0.0001")  # 100 kB: less than any store
    state = window.state
    window.controller.open_clip(recording)  # no model: the overview alone
    wait_complete(qtbot, window)
    assert not old.exists()  # the oldest store, over the cap, went
    assert state.long.store.exists() and LongStore(state.long.store).complete  # not its own
