"""Resuming a stopped long-recording run (issue 14): cancel half-way, resume, and the store is
that of an uninterrupted run.

Known answer: a 185-s recording with a burst at 121 s (4 windows of 60 s) scored straight
through, and scored again stopped after its first or second window (by ``should_stop`` and by
``progress`` raising Cancelled) then resumed: the same map, frame scores, region maxima,
overview, events, clip score and peak; the resumed run scores only the windows left; a
checkpoint made under another threshold is not used.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from machine_sounds import machine_model_and_long_recording

from specview import longresume
from specview.errors import Cancelled
from specview.longscore import resume_key, score_long
from specview.longstore import LongStore


@pytest.fixture(scope="module")
def model_and_recording(tmp_path_factory):
    return machine_model_and_long_recording(tmp_path_factory.mktemp("resume"))


@pytest.fixture(scope="module")
def straight(model_and_recording, tmp_path_factory):
    model, rec = model_and_recording
    folder = tmp_path_factory.mktemp("straight") / "s.zarr"
    return score_long(model, rec, folder, block_seconds=7.0), LongStore(folder)


def _same_store(a: LongStore, b: LongStore) -> None:
    for name in ("map", "frame_scores", "region_max", "overview/power_db", "overview/score_max"):
        x, y = np.asarray(a.root[name][...]), np.asarray(b.root[name][...])
        assert x.shape == y.shape, name
        assert np.isfinite(x).all(), name
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=name)
    assert [e.box for e in a.events()] == [e.box for e in b.events()]
    np.testing.assert_allclose([e.score for e in a.events()], [e.score for e in b.events()],
                               rtol=1e-6)
    for k in ("clip_score", "peak_time", "peak_freq", "threshold", "frames_done", "complete",
              "events_done"):
        assert a.attrs[k] == pytest.approx(b.attrs[k], rel=1e-6), k


@pytest.mark.weights
@pytest.mark.parametrize("stop_after", [1, 2])
def test_cancel_half_way_then_resume_equals_an_uninterrupted_run(
        model_and_recording, straight, tmp_path, stop_after):
    model, rec = model_and_recording
    whole, whole_store = straight
    folder = tmp_path / "r.zarr"
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) >= stop_after

    with pytest.raises(InterruptedError):
        score_long(model, rec, folder, block_seconds=5.0, should_stop=stop)
    assert (folder / longresume.NAME).exists()
    stopped = LongStore(folder)
    assert not stopped.complete and stopped.frames_done < stopped.n_time  # (whole chunks)
    windows = []
    summary = score_long(model, rec, folder, block_seconds=11.0, resume=True,
                         progress=lambda a, b: windows.append(a))
    assert len(windows) == 4 - stop_after  # only the windows left were scored
    assert not (folder / longresume.NAME).exists()
    _same_store(LongStore(folder), whole_store)
    assert summary.clip_score == pytest.approx(whole.clip_score, rel=1e-6)
    assert [e.box for e in summary.events] == [e.box for e in whole.events]
    hit = [e for e in summary.events if e.box.t0 <= 121.6 and e.box.t1 >= 121.0]
    assert hit and hit[0].box.f0 <= 3000 <= hit[0].box.f1


@pytest.mark.weights
def test_a_cancelled_progress_callback_leaves_a_checkpoint_a_changed_run_ignores(
        model_and_recording, straight, tmp_path):
    model, rec = model_and_recording
    _whole, whole_store = straight
    folder = tmp_path / "c.zarr"

    def cancel_at_second(done: int, total: int) -> None:
        if done > total // 3:
            raise Cancelled("stopped")

    with pytest.raises(Cancelled):
        score_long(model, rec, folder, progress=cancel_at_second)
    assert (folder / longresume.NAME).exists()
    # another threshold: the checkpoint is not this run's, so it starts afresh
    windows = []
    score_long(model, rec, folder, per_hour=1.0, resume=True,
               progress=lambda a, b: windows.append(a))
    assert len(windows) == 4
    # stopped again, resumed under the same settings: equal to the straight run
    with pytest.raises(Cancelled):
        score_long(model, rec, folder, progress=cancel_at_second)
    windows.clear()
    score_long(model, rec, folder, resume=True, progress=lambda a, b: windows.append(a))
    assert len(windows) == 2
    _same_store(LongStore(folder), whole_store)


@pytest.mark.weights
def test_a_model_whose_calibration_differs_has_another_checkpoint_key(model_and_recording):
    model, rec = model_and_recording
    cal = model.calibration
    assert resume_key(model, rec) == resume_key(dataclasses.replace(model), rec)
    changed = [
        dataclasses.replace(cal, rows=dataclasses.replace(cal.rows, across_level=None)),
        dataclasses.replace(cal, region_level=cal.region_level + 0.1),
        dataclasses.replace(cal, rows=dataclasses.replace(
            cal.rows, focus_gain=cal.rows.focus_gain + 0.5)),
    ]
    for other in changed:
        # same detector, threshold and windows: only the maps or regions would differ
        assert other.threshold == cal.threshold
        assert (resume_key(dataclasses.replace(model, calibration=other), rec)
                != resume_key(model, rec))
