"""Gestures as an annotator expects them, driven with the mouse and keys: boxes over flagged
regions move and resize, drags pan, clicks on regions select them and set the play cursor, one
key per action, undo per clip, the label of a new box shown before it is drawn, and playback
feedback before the sound starts. Outcomes are checked on screen and on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from specview.annotations import read_raven, sidecar_path
from specview.types import Box

TIMEOUT = 60000


class SilentPlayer:
    """A player that never opens a device (what it plays is checked in test_listen)."""

    is_playing = False

    def play(self, samples, sr, *, loop=False, offset_s=0.0, on_finished=None):
        self.is_playing = True

    def stop(self):
        self.is_playing = False

    def position(self):
        return None

    def close(self):
        self.stop()


@pytest.fixture
def win(qtbot, settings):
    from specview.gui.main_window import MainWindow

    w = MainWindow(settings=settings, player=SilentPlayer())
    qtbot.addWidget(w)
    w.resize(1280, 720)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def clips(tiny_dataset, tmp_path) -> tuple[Path, Path]:
    """Private copies of the anomalous clip (with its truth box over the burst) and a normal
    clip, in one folder."""
    out = []
    for name in ("anomaly_000.wav", "normal_000.wav"):
        src = tiny_dataset / "test" / name
        shutil.copy(src, tmp_path / name)
        if sidecar_path(src).exists():
            shutil.copy(sidecar_path(src), sidecar_path(tmp_path / name))
        out.append(tmp_path / name)
    return out[0], out[1]


def show(qtbot, w, path, *, scored=False):
    w.controller.open_clip(path)
    qtbot.waitUntil(lambda: w.state.clip_path == path
                    and (not scored or w.state.result is not None), timeout=TIMEOUT)
    qtbot.wait(50)


def load_model(qtbot, w, path):
    with qtbot.waitSignal(w.state.model_changed, timeout=TIMEOUT):
        w.controller.load_model(path)


def vp(w, t: float, hz: float) -> QPoint:
    p = w.view.glw.mapFromScene(w.view.scene_pos_of(t, hz))
    return QPoint(p.x(), p.y())


def drag(w, a: QPoint, b: QPoint, steps: int = 10) -> None:
    """A left-button drag at a hand's pace: pyqtgraph drops mouse moves closer together than
    a screen refresh, so the moves are spaced 25 ms apart."""
    port = w.view.glw.viewport()
    QTest.mousePress(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, steps + 1):
        QTest.qWait(25)
        QTest.mouseMove(port, a + (b - a) * (k / steps))
    QTest.qWait(25)
    QTest.mouseRelease(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def click(w, a: QPoint) -> None:
    port = w.view.glw.viewport()
    QTest.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)


def overlap(a: Box, b: Box) -> bool:
    return a.t0 < b.t1 and b.t0 < a.t1 and a.f0 < b.f1 and b.f0 < a.f1


@pytest.fixture
def scored(qtbot, win, clips, model_path):
    anomaly, _ = clips
    load_model(qtbot, win, model_path)
    show(qtbot, win, anomaly, scored=True)
    (box,) = win.state.boxes
    regions = win.state.flagged
    assert any(overlap(box, r.box) for r in regions), "the fixture's box must overlap a region"
    return win, anomaly, box


def test_a_box_over_a_flagged_region_moves_and_resizes_with_the_mouse(qtbot, scored):
    win, anomaly, box = scored
    mid_f = (box.f0 * box.f1) ** 0.5
    drag(win, vp(win, (box.t0 + box.t1) / 2, mid_f), vp(win, (box.t0 + box.t1) / 2 + 0.2, mid_f))
    qtbot.waitUntil(lambda: win.state.boxes[0].t0 != box.t0, timeout=5000)
    moved = win.state.boxes[0]
    assert moved.t0 == pytest.approx(box.t0 + 0.2, abs=0.03)
    assert moved.t1 - moved.t0 == pytest.approx(box.t1 - box.t0, abs=1e-6)
    assert read_raven(sidecar_path(anomaly)) == [moved]
    # its right edge handle resizes it
    handle = vp(win, moved.t1, mid_f)
    drag(win, handle, handle + QPoint(30, 0))
    qtbot.waitUntil(lambda: win.state.boxes[0].t1 > moved.t1 + 0.01, timeout=5000)
    assert win.state.boxes[0].t0 == pytest.approx(moved.t0, abs=1e-6)
    assert read_raven(sidecar_path(anomaly))[0].t1 == win.state.boxes[0].t1


def test_left_drag_pans_over_a_flagged_region_and_a_click_selects_it(qtbot, scored):
    win, _anomaly, box = scored
    region = max(win.state.flagged, key=lambda r: r.box.t1 - r.box.t0)
    r = region.box
    # a point of the region outside the truth box (the region is broader), else its edge
    t = r.t1 - 0.01 if r.t1 - 0.01 > box.t1 else r.t0 + 0.01
    f = (r.f0 * r.f1) ** 0.5
    if box.t0 <= t <= box.t1 and box.f0 <= f <= box.f1:
        pytest.skip("the flagged region lies inside the truth box on this machine")
    win.view.vb.setRange(xRange=(t - 0.3, t + 0.02), padding=0.0)  # zoomed in: room to pan
    qtbot.wait(50)
    (x0, x1), _ = win.view.vb.viewRange()
    a = vp(win, t, f)
    drag(win, a, a + QPoint(60, 0))
    (y0, y1), _ = win.view.vb.viewRange()
    assert y0 < x0 - 1e-3 and y1 < x1 - 1e-3  # dragged right: the view moved back in time
    assert y1 - y0 == pytest.approx(x1 - x0)  # a pan, not a zoom
    assert win.state.boxes == [box]  # nothing was moved
    # a click on the region (in view, off the box) selects it and sets the play cursor there:
    # the middle of the part of the region beside the box that is still in view
    lo, hi = (max(box.t1, r.t0), r.t1) if t > box.t1 else (r.t0, min(box.t0, r.t1))
    lo, hi = max(lo, y0), min(hi, y1)
    assert hi - lo > 0.02, f"no room to click the region beside the box in view ({lo}, {hi})"
    tc = (lo + hi) / 2
    assert r.t0 < tc < r.t1 and not box.t0 <= tc <= box.t1 and y0 < tc < y1
    click(win, vp(win, tc, f))
    k = win.state.flagged.index(region)
    qtbot.waitUntil(lambda: win.box_panel.selected_flagged() == k, timeout=5000)
    assert win.listener.cursor_t == pytest.approx(tc, abs=0.02)


def test_every_shortcut_belongs_to_one_action(win):
    seen: dict[str, str] = {}
    for action in win.findChildren(type(win.menu_actions["undo"])):
        for key in action.shortcuts():
            text = key.toString(QKeySequence.SequenceFormat.PortableText)
            if not text:
                continue
            assert text not in seen or seen[text] == action.text(), (
                f"{text} is both {seen[text]!r} and {action.text()!r}")
            seen[text] = action.text()
        keys = [k.toString() for k in action.shortcuts()]
        assert len(keys) == len(set(keys)), f"{action.text()!r} lists a key twice: {keys}"
    assert "Ctrl+Shift+Z" in seen and "Ctrl+Z" in seen


def test_ctrl_shift_z_redoes_and_history_is_kept_per_clip(qtbot, win, clips):
    anomaly, normal = clips
    show(qtbot, win, anomaly)
    win.activateWindow()
    win.box_panel.label_combo.setEditText("first")
    win.annotator.draw(Box(0.1, 0.3, 500.0, 900.0))
    assert [b.label for b in win.state.boxes] == ["tone", "first"]
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(win.state.boxes) == 1, timeout=5000)
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: len(win.state.boxes) == 2, timeout=5000)
    # another clip, another edit, then back: each clip undoes its own edits
    show(qtbot, win, normal)
    win.box_panel.label_combo.setEditText("second")
    win.annotator.draw(Box(0.5, 0.7, 300.0, 600.0))
    assert [b.label for b in read_raven(sidecar_path(normal))] == ["second"]
    show(qtbot, win, anomaly)
    assert [b.label for b in win.state.boxes] == ["tone", "first"]
    win.menu_actions["undo"].trigger()
    assert [b.label for b in win.state.boxes] == ["tone"]
    assert [b.label for b in read_raven(sidecar_path(anomaly))] == ["tone"]
    assert [b.label for b in read_raven(sidecar_path(normal))] == ["second"]  # untouched
    show(qtbot, win, normal)
    win.menu_actions["undo"].trigger()
    assert win.state.boxes == [] and read_raven(sidecar_path(normal)) == []


def test_a_new_box_takes_the_label_shown_and_nothing_else(qtbot, win, clips, settings):
    anomaly, _ = clips
    settings.setValue("annotate/recent_labels", ["from an earlier session"])
    show(qtbot, win, anomaly)
    panel = win.box_panel
    assert panel.current_label() == ""  # nothing inherited: the field shows what is used
    win.annotator.draw(Box(0.1, 0.3, 500.0, 900.0))
    assert win.state.boxes[-1].label == ""
    win.state.select(0)  # selecting a box does not change the label for new boxes
    assert panel.current_label() == ""
    panel.label_combo.setEditText("hiss")
    win.annotator.draw(Box(1.5, 1.7, 500.0, 900.0))
    assert win.state.boxes[-1].label == "hiss"
    assert [b.label for b in read_raven(sidecar_path(anomaly))] == ["tone", "", "hiss"]


def test_playback_shows_its_state_before_the_sound_starts(qtbot, win, clips):
    anomaly, _ = clips
    show(qtbot, win, anomaly)
    win.listener.set_cursor(1.25)
    job = win.listener.play("clip")
    # at once, in the same event-loop turn: the state and the playhead at the start
    assert job is not None
    assert win.listen_panel.status.text().startswith("Preparing the sound from 1.25 s")
    heads = win.view.playheads
    assert heads[0].isVisible() and heads[0].value() == pytest.approx(1.25)
    qtbot.waitUntil(lambda: win.listen_panel.status.text().startswith("Playing"), timeout=TIMEOUT)
    win.listener.stop()
    assert win.listen_panel.status.text() == ""


def test_hover_and_region_labels_share_the_colour_bars_unit(qtbot, scored):
    win, _anomaly, _box = scored
    cal = win.state.model.calibration
    region = win.state.flagged[0]
    z = float(cal.calibrated([[region.score]])[0, 0])
    texts = [t.toPlainText() for t in win.view.box_layer._extra if hasattr(t, "toPlainText")]
    assert f"{z:.1f}×" in texts
    assert win.view.colorbar.getAxis("left").labelText == "anomaly, × flag threshold"
    r = win.view.readout_at(QPointF(*(0, 0)).x() + (region.box.t0 + region.box.t1) / 2,
                            win.view.band_scale.y_of_hz((region.box.f0 * region.box.f1) ** .5))
    assert r is not None and r.calibrated is not None and "× threshold" in r.text()
    assert "flagged region" in [win.view.legend.items[i][1].text for i in range(3)][2]


