"""Listening from the window: what is rendered for each request, the playhead, the evaluation
panel following edits. The device is replaced by a recorder (real output: tests/test_playback)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from specview.annotations import sidecar_path
from specview.audio import load_audio
from specview.playback import render
from specview.types import Box

TIMEOUT = 60000


class RecordingPlayer:
    """Stands in for :class:`specview.playback.Player`: remembers what it was asked to play
    and reports a position the test sets."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, int, bool]] = []
        self.pos: float | None = None
        self.playing = False
        self._finish = None
        self.lock = threading.Lock()

    def play(self, samples, sr, *, loop=False, offset_s=0.0, on_finished=None):
        self.calls.append((np.asarray(samples).copy(), sr, loop))
        self.playing, self.pos, self._finish = True, 0.0, on_finished

    def stop(self):
        if self.playing and self._finish is not None:
            self._finish()
        self.playing, self.pos = False, None

    def position(self):
        return self.pos

    @property
    def is_playing(self):
        return self.playing

    def close(self):
        self.stop()


@pytest.fixture
def player():
    return RecordingPlayer()


@pytest.fixture
def win(qtbot, settings, player):
    from specview.gui.main_window import MainWindow

    w = MainWindow(settings=settings, player=player)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def clip(tiny_dataset, tmp_path) -> Path:
    src = tiny_dataset / "test" / "anomaly_000.wav"
    dst = tmp_path / "anomaly_000.wav"
    shutil.copy(src, dst)
    shutil.copy(sidecar_path(src), sidecar_path(dst))
    return dst


def show(qtbot, w, path, *, scored=False):
    w.controller.open_clip(path)
    qtbot.waitUntil(lambda: w.state.clip_path == path
                    and (not scored or w.state.result is not None), timeout=TIMEOUT)


def played(qtbot, player, n):
    qtbot.waitUntil(lambda: len(player.calls) == n, timeout=TIMEOUT)
    return player.calls[-1]


def test_play_box_band_limited_renders_exactly_that_signal(qtbot, win, player, clip):
    show(qtbot, win, clip)
    audio = load_audio(clip)
    win.state.select(0)  # the sidecar's 0.8-1.4 s, 3.5-4.5 kHz box
    win.listen_panel.band.setChecked(True)
    win.listen_panel.play_selection.click()
    x, sr, loop = played(qtbot, player, 1)
    want = render(audio.samples, audio.sr, start=0.8, end=1.4, band=(3500.0, 4500.0))
    assert sr == audio.sr and not loop
    np.testing.assert_array_equal(x, want)
    assert len(x) == round(1.4 * sr) - round(0.8 * sr)  # sample-accurate segment
    # the playhead follows the player's position, from the box's start
    player.pos = 0.25
    qtbot.waitUntil(lambda: win.view.playheads[0].isVisible()
                    and abs(win.view.playheads[0].value() - 1.05) < 1e-6, timeout=2000)
    win.menu_actions["stop"].trigger()
    assert not player.playing


def test_click_sets_the_start_and_speed_and_loop_apply(qtbot, win, player, clip):
    show(qtbot, win, clip)
    audio = load_audio(clip)
    win.listener.set_cursor(0.5)
    assert win.view.playheads[0].value() == pytest.approx(0.5)
    win.listen_panel.speed.setCurrentIndex(win.listen_panel.speed.findData(0.5))
    win.listen_panel.loop.setChecked(True)
    win.menu_actions["play_toggle"].trigger()  # Space, nothing selected: the clip from 0.5 s
    x, sr, loop = played(qtbot, player, 1)
    np.testing.assert_array_equal(x, render(audio.samples, audio.sr, start=0.5, speed=0.5))
    assert loop and len(x) == pytest.approx(2 * (2.0 - 0.5) * sr, abs=2)
    player.pos = 1.0  # one second of slowed sound = half a second of the clip
    qtbot.waitUntil(lambda: abs(win.view.playheads[0].value() - 1.0) < 1e-6, timeout=2000)
    win.menu_actions["play_toggle"].trigger()
    assert not player.playing


def test_anomaly_only_needs_a_model_and_uses_its_map(qtbot, win, player, clip, model_path):
    show(qtbot, win, clip)
    win.listen_panel.source.setCurrentIndex(1)  # anomaly only
    msgs = []
    win.listener.message.connect(msgs.append)
    win.listen_panel.play_clip.click()
    qtbot.waitUntil(lambda: any("model" in m for m in msgs), timeout=TIMEOUT)
    assert player.calls == []
    with qtbot.waitSignal(win.state.model_changed, timeout=TIMEOUT):
        win.controller.load_model(model_path)
    qtbot.waitUntil(lambda: win.state.result is not None, timeout=TIMEOUT)
    win.listen_panel.play_clip.click()
    x, sr, _ = played(qtbot, player, 1)
    audio = load_audio(clip)
    want = render(audio.samples, audio.sr, mask="anomaly", result=win.state.result,
                  calibration=win.state.model.calibration, start=0.0)
    np.testing.assert_allclose(x, want, atol=1e-6)
    # the burst (0.8-1.4 s) carries most of the anomaly-only energy
    t = np.arange(len(x)) / sr
    inside = np.sum(x[(t >= 0.8) & (t < 1.4)] ** 2)
    assert inside > 0.8 * np.sum(x**2)


def test_controls_are_disabled_with_the_reason_without_a_device(qtbot, settings):
    from specview.gui.listen_panel import Listener, ListenPanel
    from specview.gui.main_window import MainWindow

    w = MainWindow(settings=settings, player=None)
    qtbot.addWidget(w)
    w.listener._checked, w.listener.available, w.listener.reason = True, False, "no device here"
    w.listener.check()
    assert not w.listen_panel.play_clip.isEnabled()
    assert "no device here" in w.listen_panel.reason.text()
    assert isinstance(w.listener, Listener) and isinstance(w.listen_panel, ListenPanel)


def test_scores_panel_follows_the_boxes(qtbot, win, clip, model_path):
    with qtbot.waitSignal(win.state.model_changed, timeout=TIMEOUT):
        win.controller.load_model(model_path)
    win.controller.open_folder(clip.parent)
    show(qtbot, win, clip, scored=True)
    panel = win.eval_panel
    good = panel.clip_scores["spectrogram_auroc"]
    assert good is not None and good > 0.9  # the burst box holds the heat
    win.annotator.edit(0, Box(0.05, 0.3, 100.0, 300.0, "tone"))  # a box away from the burst
    assert panel.clip_scores["spectrogram_auroc"] < good
    assert panel.clip_labels["spectrogram_auroc"].text() == f"{panel.clip_scores['spectrogram_auroc']:.3f}"
    with qtbot.waitSignal(win.controller.task_ended, timeout=TIMEOUT):
        panel.evaluate_button.click()
    assert panel.dataset_scores is not None and panel.dataset_scores["n_clips"] == 1
    assert panel.data_labels["aupro"].text() != "–"
