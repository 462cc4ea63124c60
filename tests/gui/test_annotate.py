"""Drawing, editing and saving ground-truth boxes in the window, with known answers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from specview.annotations import read_raven, sidecar_path
from specview.gui.box_panel import column_header
from specview.gui.measurements import SHORT
from specview.measure import DEFAULT_SHOWN
from specview.types import Box

TIMEOUT = 60000


@pytest.fixture
def clip(tiny_dataset, tmp_path) -> Path:
    """A private copy of the anomalous clip and its sidecar (tests write sidecars)."""
    src = tiny_dataset / "test" / "anomaly_000.wav"
    dst = tmp_path / "anomaly_000.wav"
    shutil.copy(src, dst)
    shutil.copy(sidecar_path(src), sidecar_path(dst))
    return dst


def show(qtbot, win, path: Path, *, scored: bool = False) -> None:
    win.controller.open_clip(path)
    qtbot.waitUntil(lambda: win.state.clip_path == path
                    and (not scored or win.state.result is not None), timeout=TIMEOUT)


def viewport_point(win, t: float, hz: float) -> QPoint:
    scene = win.view.scene_pos_of(t, hz)
    return win.view.glw.mapFromScene(scene)


def drag(win, a: QPoint, b: QPoint) -> None:
    vp = win.view.glw.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    steps = 8
    for k in range(1, steps + 1):  # at a hand's pace: pyqtgraph drops moves < a frame apart
        QTest.qWait(25)
        p = a + (b - a) * (k / steps)
        QTest.mouseMove(vp, p)
    QTest.qWait(25)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def test_mouse_drag_draws_a_box_in_seconds_and_hz_and_undo_removes_it(qtbot, window, clip):
    show(qtbot, window, clip)
    state = window.state
    assert len(state.boxes) == 1  # the sidecar's box
    window.box_panel.label_combo.setEditText("squeal")
    window.menu_actions["box_tool"].trigger()  # the B key's action
    assert window.view.draw_vb.draw_mode
    a, b = viewport_point(window, 0.3, 1000.0), viewport_point(window, 0.9, 3000.0)
    drag(window, a, b)
    qtbot.waitUntil(lambda: len(state.boxes) == 2, timeout=5000)
    new = state.boxes[1]
    # pixel-exact positions are not reachable: within a pixel of the intended corners
    px_t = 2.0 / window.view.vb.width() * (window.view.vb.viewRange()[0][1]
                                            - window.view.vb.viewRange()[0][0])
    assert new.t0 == pytest.approx(0.3, abs=2 * px_t) and new.t1 == pytest.approx(0.9, abs=2 * px_t)
    assert new.f0 == pytest.approx(1000.0, rel=0.06) and new.f1 == pytest.approx(3000.0, rel=0.06)
    assert new.label == "squeal" and state.selected == 1
    # the sidecar on disk follows every edit
    on_disk = read_raven(sidecar_path(clip))
    assert on_disk == state.boxes  # exact values; the new box appended with the next number
    assert [x.selection for x in on_disk] == [1, 2]
    # the table shows exact values
    table = window.box_panel.table
    assert table.rowCount() == 2 and table.item(1, 0).text() == "squeal"
    assert float(table.item(1, 1).text()) == pytest.approx(new.t0, abs=1e-3)
    window.menu_actions["undo"].trigger()
    assert len(state.boxes) == 1
    assert len(read_raven(sidecar_path(clip))) == 1
    window.menu_actions["redo"].trigger()
    assert len(state.boxes) == 2 and len(read_raven(sidecar_path(clip))) == 2


def test_table_edits_are_clamped_and_undoable(qtbot, window, clip):
    show(qtbot, window, clip)
    state, panel = window.state, window.box_panel
    table = panel.table
    table.item(0, 2).setText("99")  # end past the 2 s clip: clamped to its end
    assert state.boxes[0].t1 == pytest.approx(2.0, abs=1e-6)
    table.item(0, 0).setText("burst")
    assert state.boxes[0].label == "burst"
    table.item(0, 1).setText("abc")  # not a number: nothing changes
    assert state.boxes[0].t0 == pytest.approx(0.8)
    assert "not a number" in panel.save_label.text()
    window.menu_actions["undo"].trigger()
    window.menu_actions["undo"].trigger()
    assert state.boxes[0] == Box(0.8, 1.4, 3500.0, 4500.0, "tone")


def test_delete_and_selection_sync(qtbot, window, clip):
    show(qtbot, window, clip)
    state = window.state
    window.box_panel.table.selectRow(0)
    assert state.selected == 0
    window.menu_actions["delete_box"].trigger()
    assert state.boxes == [] and read_raven(sidecar_path(clip)) == []
    # an empty table is still written: "annotated, nothing there" differs from "never annotated"
    assert sidecar_path(clip).read_text().startswith("Selection\t")
    window.menu_actions["undo"].trigger()
    assert len(state.boxes) == 1


def test_accepting_a_flagged_region_makes_a_box(qtbot, window, clip, model_path):
    with qtbot.waitSignal(window.state.model_changed, timeout=TIMEOUT):
        window.controller.load_model(model_path)
    show(qtbot, window, clip, scored=True)
    state = window.state
    assert state.flagged, "the burst is above the calibrated threshold"
    region = state.flagged[0]
    n = len(state.boxes)
    window.box_panel.select_flagged(0)
    window.menu_actions["accept_flagged"].trigger()
    assert len(state.boxes) == n + 1 and region not in state.flagged
    got = state.boxes[-1]
    duration = state.display.duration  # the region is clamped to the clip like any box
    assert (got.t0, got.t1) == (pytest.approx(max(0.0, region.box.t0)),
                                pytest.approx(min(duration, region.box.t1)))
    assert len(read_raven(sidecar_path(clip))) == n + 1
    window.menu_actions["undo"].trigger()
    assert len(state.boxes) == n and region in state.flagged
    window.box_panel.select_flagged(0)
    window.menu_actions["dismiss_flagged"].trigger()
    assert region not in state.flagged and len(state.boxes) == n


def test_an_unreadable_sidecar_is_never_overwritten(qtbot, window, clip):
    side = sidecar_path(clip)
    side.write_text("this is not a selection table\n")
    window.annotator.ask_on_unreadable = False
    with qtbot.waitSignal(window.controller.sidecar_unreadable, timeout=TIMEOUT):
        window.controller.open_clip(clip)
    qtbot.waitUntil(lambda: window.state.clip_path == clip, timeout=TIMEOUT)
    state = window.state
    assert not state.boxes_editable and state.boxes == []
    window.annotator.draw(Box(0.1, 0.5, 500, 900))
    assert state.boxes == [] and side.read_text() == "this is not a selection table\n"
    moved = window.annotator.keep_aside_and_start()
    assert moved is not None and moved.read_text() == "this is not a selection table\n"
    window.annotator.draw(Box(0.1, 0.5, 500, 900))
    assert len(read_raven(side)) == 1


def test_step_through_boxes_zooms_to_each(qtbot, window, clip):
    show(qtbot, window, clip)
    window.annotator.draw(Box(0.2, 0.4, 200, 400, "x"))
    window.menu_actions["next_item"].trigger()
    (x0, x1), _ = window.view.vb.viewRange()
    box = window.state.boxes[window.state.selected]
    assert box.t0 == pytest.approx(0.2) and x0 < 0.2 and x1 > 0.4 and x1 - x0 < 1.0
    window.menu_actions["next_item"].trigger()
    assert window.state.boxes[window.state.selected].t0 == pytest.approx(0.8)


def test_a_drag_over_an_existing_box_draws_a_new_one(qtbot, window, clip):
    show(qtbot, window, clip)
    state = window.state
    old = state.boxes[0]  # 0.8-1.4 s, 3.5-4.5 kHz
    window.menu_actions["box_tool"].trigger()
    drag(window, viewport_point(window, 0.9, 3700.0), viewport_point(window, 1.3, 4300.0))
    qtbot.waitUntil(lambda: len(state.boxes) == 2, timeout=5000)
    assert state.boxes[0] == old  # the box under the drag did not move
    window.menu_actions["box_tool"].trigger()  # off: boxes take the mouse again
    assert all(r.acceptedMouseButtons() != Qt.MouseButton.NoButton
               for r in window.view.box_layer.rois)


USER_TABLE = (
    "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"
    "Delta Time (s)\tPeak Freq (Hz)\tSpecies\tNotes\r\n"
    "1\tWaveform 1\t1\t0.812345678\t1.398765432\t3500.25\t4500.75\t0.5864\t\ttone\tclear\r\n"
    "1\tSpectrogram 1\t1\t0.812345678\t1.398765432\t3500.25\t4500.75\t0.5864\t4005.9\ttone"
    "\tclear\r\n"
)


def test_a_users_raven_table_survives_editing_in_the_window(qtbot, window, clip):
    side = sidecar_path(clip)
    side.write_bytes(USER_TABLE.encode("cp1252"))
    show(qtbot, window, clip)
    state, panel = window.state, window.box_panel
    assert state.boxes_editable and state.sidecar.label_column == "Species"
    assert state.boxes[0].label == "tone" and state.boxes[0].extra["Notes"] == "clear"
    # the label-column chooser offers the annotation columns; Notes is shown as a column
    assert [panel.column_combo.itemText(i) for i in range(panel.column_combo.count())] == [
        "(none)", "Species", "Notes"]
    headers = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    # (after the table's own columns come the measurement columns, not editable)
    assert headers[5] == "Notes" and panel.table.item(0, 5).text() == "clear"
    assert headers[6:] == [column_header(SHORT[k]) for k in DEFAULT_SHOWN]
    # editing the label cell changes that cell only: rounded numbers in the table stay unused
    panel.table.item(0, 0).setText("whistle")
    qtbot.waitUntil(lambda: state.boxes[0].label == "whistle", timeout=5000)
    text = side.read_bytes().decode("cp1252")
    assert text == USER_TABLE.replace("\ttone\t", "\twhistle\t")
    assert side.with_name(side.name + ".orig").read_bytes() == USER_TABLE.encode("cp1252")
    # the Notes column is editable too
    panel.table.item(0, 5).setText("faint")
    qtbot.waitUntil(lambda: state.boxes[0].extra.get("Notes") == "faint", timeout=5000)
    assert side.read_bytes().decode("cp1252") == USER_TABLE.replace(
        "\ttone\tclear", "\twhistle\tfaint")
    # labels from another column, then a box drawn: it gets selection 2 in both views
    panel.column_combo.setCurrentIndex(2)
    panel.column_combo.activated.emit(2)
    qtbot.waitUntil(lambda: state.boxes[0].label == "faint", timeout=5000)
    panel.label_combo.setEditText("new")  # new boxes take the label field's text
    window.annotator.draw(Box(0.2, 0.4, 1000.0, 2000.0))
    rows = side.read_bytes().decode("cp1252").splitlines()
    assert rows[:3] == USER_TABLE.replace("\ttone\tclear", "\twhistle\tfaint").splitlines()
    assert rows[3].startswith("2\tWaveform 1\t1\t0.2\t0.4\t") and rows[3].endswith("\tnew")
    assert rows[4].startswith("2\tSpectrogram 1\t1\t0.2\t0.4\t")


def test_boxes_stop_at_the_recordings_nyquist_not_the_display_grid(qtbot, window, tmp_path):
    import numpy as np

    from specview.audio import write_audio

    sr = 192000
    rng = np.random.default_rng(5)
    path = tmp_path / "bat.wav"
    write_audio(path, (0.05 * rng.standard_normal(sr)).astype(np.float32), sr)
    sidecar_path(path).write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tSpecies\n1\tSpectrogram 1\t1\t0.1\t0.12\t38000\t80000\tPipistrellus\n")
    show(qtbot, window, path)
    state = window.state
    assert state.sample_rate == sr
    assert state.boxes == [Box(0.1, 0.12, 38000.0, 80000.0, "Pipistrellus")]  # kept as drawn
    top = float(state.display.freqs[-1])
    assert top < 38000.0  # the display grid stops far below the box
    assert "above the analysed band" in window.box_panel.table.item(0, 4).toolTip()
    # a resize beyond the Nyquist stops at 96 kHz, not at the grid's top
    window.annotator.edit(0, Box(0.1, 0.12, 38000.0, 150000.0, "Pipistrellus"))
    assert state.boxes[0].f1 == 96000.0
    assert read_raven(sidecar_path(path))[0].f1 == 96000.0


def test_a_table_of_several_recordings_is_distributed_over_the_open_dataset(
        qtbot, window, tiny_dataset, tmp_path):
    ds = tmp_path / "ds"
    shutil.copytree(tiny_dataset, ds)
    window.controller.open_folder(ds)
    qtbot.waitUntil(lambda: window.state.dataset is not None, timeout=TIMEOUT)
    anomaly, normal = ds / "test" / "anomaly_000.wav", ds / "test" / "normal_000.wav"
    show(qtbot, window, anomaly)
    table = tmp_path / "combined.txt"
    table.write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tCommon Name\tBegin Path\tFile Offset (s)\n"
        "1\tSpectrogram 1\t1\t0.1\t0.3\t200\t900\tclick\tD:\\rec\\anomaly_000.wav\t0.1\n"
        "2\tSpectrogram 1\t1\t2.5\t2.7\t300\t800\thum\tD:\\rec\\normal_000.wav\t0.5\n"
        "3\tSpectrogram 1\t1\t9.0\t9.5\t300\t800\tbird\tD:\\rec\\elsewhere.wav\t1.0\n")
    added = window.annotator.import_into_dataset(table)
    assert added == {anomaly: 1, normal: 1}
    # the clip on screen got its row through the undo stack; the other clip's sidecar on disk
    assert [b.label for b in window.state.boxes] == ["tone", "click"]
    assert window.state.boxes[1].t0 == 0.1
    (hum,) = read_raven(sidecar_path(normal))  # in its own recording's time (File Offset)
    assert (hum.t0, hum.t1, hum.label) == (0.5, pytest.approx(0.7), "hum")
    assert hum.extra["Begin Path"] == "D:\\rec\\normal_000.wav"  # the row, kept whole
    window.menu_actions["undo"].trigger()
    assert [b.label for b in read_raven(sidecar_path(anomaly))] == ["tone"]
    # importing again adds nothing twice
    assert window.annotator.import_into_dataset(table) == {anomaly: 1, normal: 0}
