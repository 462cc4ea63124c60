"""The overview strip sets its score axis only when what it shows changes, and the status
bar's progress bar moves in fixed steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specview.gui.controller import default_front_end
from specview.gui.long_recording import LongRecording, StoreCalibration
from specview.gui.overview_strip import OverviewStrip
from specview.gui.state import AppState
from specview.gui.workers import PROGRESS_STEPS, progress_step


def _rec(scored: bool) -> LongRecording:
    fe = default_front_end()
    rec = LongRecording(Path("day.wav"), duration=3600.0, sample_rate=fe.sr, fe=fe,
                        n_time=int(3600 / fe.seconds_per_frame), scored=scored,
                        store=Path("nowhere"))
    rec.power_db[:, :100] = -30.0
    rec.power_cols = 100
    return rec


def test_the_score_axis_is_set_once_per_change(qtbot, monkeypatch):
    state = AppState()
    strip = OverviewStrip(state)
    qtbot.addWidget(strip)
    labels: list[str] = []
    orig = strip.score_plot.setLabel
    monkeypatch.setattr(strip.score_plot, "setLabel",
                        lambda side, text, **kw: (labels.append(text), orig(side, text, **kw)))
    rec = _rec(scored=False)
    state.set_long(rec)
    for c in range(100, 400, 50):  # columns stream in: the strip draws again each time
        rec.power_db[:, c:c + 50] = -20.0
        rec.power_cols = c + 50
        strip._on_progressed(c, c + 50)
        strip.refresh_data()
    axis = strip.score_plot.getAxis("left")
    assert labels == ["score"]  # set once, not at every refresh
    assert axis.labelText == "score" and axis.style["showValues"] is False
    assert not strip.threshold_line.isVisible()
    scored = _rec(scored=True)
    scored.calibration = StoreCalibration(median=0.1, threshold=0.5)
    scored.score_max[:100] = 0.3
    state.set_long(scored)
    strip.refresh_data()
    assert labels == ["score", "× thr"]
    assert axis.labelText == "× thr" and axis.style["showValues"] is True
    assert strip.threshold_line.isVisible()
    assert strip._axis_key == ("× thr", True, True)


def test_progress_steps():
    assert progress_step(0, 1000) == 0
    assert progress_step(1, 3) == 333
    assert progress_step(2, 3) == 666
    assert progress_step(3, 3) == PROGRESS_STEPS
    assert progress_step(5, 3) == PROGRESS_STEPS  # never past the end
    assert progress_step(7, 0) == PROGRESS_STEPS  # an empty task is done
    assert progress_step(-1, 10) == 0
    assert np.floor(100 * progress_step(41_234, 116_280) / PROGRESS_STEPS) == 35  # as "%p%"
