"""The main window on a tiny synthetic dataset, with known answers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent

from specview import pipeline
from specview.gui.controller import default_front_end
from specview.gui.main_window import ABOUT, MainWindow
from specview.gui.picture import nearest

TIMEOUT = 60000


def open_clip(qtbot, win: MainWindow, path: Path, *, scored: bool = False) -> None:
    win.controller.open_clip(path)
    qtbot.waitUntil(lambda: win.state.clip_path == path
                    and (not scored or win.state.result is not None), timeout=TIMEOUT)


def load_model(qtbot, win: MainWindow, path: Path) -> None:
    with qtbot.waitSignal(win.state.model_changed, timeout=TIMEOUT):
        win.controller.load_model(path)


def test_open_file_shows_spectrogram_in_seconds_and_hz(qtbot, window, tiny_dataset) -> None:
    clip = tiny_dataset / "test" / "anomaly_000.wav"
    with qtbot.waitSignal(window.state.clip_loaded, timeout=TIMEOUT):
        window.controller.open_clip(clip)
    disp = window.state.display
    view = window.view
    assert disp is not None and window.state.result is None
    fe = default_front_end()
    # first the encoder's grid (mel rows, evenly spaced on the default mel scale) ...
    assert view.picture_kind == "grid"
    assert view.spec_item.image.shape == disp.values.shape == (96, fe.n_frames(2 * 44100))
    # x is seconds: the image spans the clip (frame centres +- half a hop)
    rect = view.spec_item.mapRectToParent(view.spec_item.boundingRect())
    assert rect.left() == pytest.approx(-fe.seconds_per_frame / 2, abs=1e-6)
    assert rect.width() == pytest.approx(fe.n_frames(2 * 44100) * fe.seconds_per_frame)
    assert rect.width() == pytest.approx(disp.duration, abs=fe.seconds_per_frame)
    (x0, x1), (y0, y1) = view.vb.viewRange()
    assert (x0, x1) == (pytest.approx(rect.left()), pytest.approx(rect.right()))
    # y is the frequency on the display's scale (mel by default), 0 Hz to Nyquist
    scale = view.band_scale
    assert scale.kind == "mel"
    assert (y0, y1) == (pytest.approx(0.0), pytest.approx(scale.y_of_hz(22050.0)))
    # dB levels auto-ranged to the top 80 dB
    lo, hi = view.spec_item.getLevels()
    assert hi == pytest.approx(float(disp.values.max()))
    assert hi - lo == pytest.approx(80.0)
    # zoom and pan stay within the clip; reset zoom shows all of it again
    view.vb.setRange(xRange=(-5.0, 10.0), yRange=(-50.0, 5000.0), padding=0.0)
    (a, b), (c, d) = view.vb.viewRange()
    assert a >= rect.left() - 1e-9 and b <= rect.right() + 1e-9 and c >= 0.0 and d <= y1 + 1e-6
    view.vb.setRange(xRange=(0.5, 0.7), yRange=(400.0, 500.0), padding=0.0)
    window.menu_actions["reset_zoom"].trigger()
    assert view.vb.viewRange()[0] == [pytest.approx(rect.left()), pytest.approx(rect.right())]
    # y axis labelled in Hz at the right mel positions
    axis = view.freq_axis
    (_, ticks), = axis.tickValues(y0, y1, 500.0)
    labels = axis.tickStrings(ticks, 1.0, 1.0)
    assert {"100", "1k", "10k"} <= set(labels)
    assert ticks[labels.index("1k")] == pytest.approx(scale.y_of_hz(1000.0))
    # ... then the display spectrogram, computed in the background, in dB re full scale
    qtbot.waitUntil(lambda: view.picture_kind == "fine", timeout=TIMEOUT)
    fine = view.picture
    assert fine is window.fine.picture and fine.values.shape[0] == 512
    assert view.spec_item.image.shape == fine.values.shape
    rect = view.spec_item.mapRectToParent(view.spec_item.boundingRect())
    assert rect.left() < 0.02 and rect.right() == pytest.approx(2.0, abs=0.03)
    half_row = y1 / 511 / 2  # the mel rows are centred from 0 Hz to Nyquist
    assert (rect.top(), rect.bottom()) == (pytest.approx(-half_row), pytest.approx(y1 + half_row))
    from specview.display import level_range

    lo, hi = view.spec_item.getLevels()
    assert (lo, hi) == tuple(pytest.approx(v) for v in level_range(fine, window.fine.settings))
    assert "anomaly_000.wav" in window.windowTitle()
    assert not view.heat_item.isVisible() or view.heat_item.image is None


def test_model_and_clip_show_heatmap_and_score(qtbot, window, tiny_dataset, model_path,
                                               burst) -> None:
    t0, t1, _hz = burst
    load_model(qtbot, window, model_path)
    clip = tiny_dataset / "test" / "anomaly_000.wav"
    open_clip(qtbot, window, clip, scored=True)
    r = window.state.result
    heat = window.view.heat_item
    assert heat.isVisible()
    # calibrated colours by default: 0 = typical normal cell, 1 = flag threshold, bar 0..2
    cal = window.state.model.calibration
    assert np.array_equal(window.view.heat_grid, cal.calibrated(r.map))
    # the map's columns at its own times, its rows placed by their Hz on the display's scale
    assert heat.image.shape[1] == r.map.shape[1]
    assert window.view.colorbar.levels() == (0.0, 2.0)
    # the clip's number is its peak in the colour bar's unit (× flag threshold), with a verdict
    peak = float(cal.calibrated(np.array([[r.map.max()]]))[0, 0])
    assert window.overlay_panel.score_label.text() == f"{peak:.2f}×"
    n = len(window.state.model.flagged(r))
    assert n and window.overlay_panel.score_caption.text().endswith(
        f"flagged ({n} region{'s' if n > 1 else ''})")
    assert f"raw clip score {r.clip_score:#.3g}" in window.overlay_panel.score_label.toolTip()
    # the flagged region (map above the threshold) is drawn and lies on the burst
    flagged = window.view.flagged
    assert flagged and flagged == window.state.model.flagged(r)
    assert flagged[0].box.t0 <= t1 and flagged[0].box.t1 >= t0
    # known answer: the map peaks on the injected 4 kHz burst in 0.8-1.4 s
    i, j = np.unravel_index(np.argmax(r.map), r.map.shape)
    assert t0 - 0.1 <= r.times[j] <= t1 + 0.1
    assert 3000 <= r.freqs[i] <= 5500
    # the same numbers the headless API gives
    direct = pipeline.load_model(model_path).score_file(clip)
    assert r.clip_score == pytest.approx(direct.result.clip_score, rel=1e-5)
    # the normal clip scores lower, and the file list shows both scores
    normal = tiny_dataset / "test" / "normal_000.wav"
    window.controller.open_folder(tiny_dataset)
    open_clip(qtbot, window, normal, scored=True)
    assert window.state.result.clip_score < r.clip_score
    items = window.file_panel._items
    sc = window.state.scores[normal]
    assert items[normal].text(2) == f"{sc.peak:.2f}×" + (" ⚑" if sc.n_flagged else "")
    assert items[clip].text(2).startswith(f"{peak:.2f}×")
    assert f"raw clip score {window.state.result.clip_score:#.3g}" in items[normal].toolTip(2)


def test_toggle_and_opacity(qtbot, window, tiny_dataset, model_path) -> None:
    load_model(qtbot, window, model_path)
    open_clip(qtbot, window, tiny_dataset / "test" / "anomaly_000.wav", scored=True)
    heat, panel = window.view.heat_item, window.overlay_panel
    action = window.menu_actions["toggle_heatmap"]
    assert heat.isVisible() and action.isChecked()
    panel.heat_check.setChecked(False)
    assert not heat.isVisible() and not action.isChecked()
    action.trigger()  # the View menu / H key turns it back on
    assert heat.isVisible() and panel.heat_check.isChecked()
    panel.opacity_slider.setValue(30)
    assert heat.opacity() == pytest.approx(0.30)
    panel.heat_cmap.setCurrentText("viridis")
    assert window.view.colorbar.colorMap().name == "viridis-fade"
    # low scores are see-through, high ones opaque
    assert heat.lut[0][3] == 0 and heat.lut[-1][3] == 255


def test_hover_readout(qtbot, window, tiny_dataset, model_path, burst) -> None:
    tone_hz = burst[2]
    load_model(qtbot, window, model_path)
    open_clip(qtbot, window, tiny_dataset / "test" / "anomaly_000.wav", scored=True)
    view = window.view
    # the graphics layout (and the docks) settle lazily after the colour bar appears: wait
    # until the point of 1.1 s stays put, then move the mouse there
    last = None
    for _ in range(50):
        qtbot.wait(50)
        widget_pos = view.glw.mapFromScene(view.scene_pos_of(1.1, tone_hz))
        if widget_pos == last:
            break
        last = widget_pos
    qtbot.mouseMove(view.glw.viewport(), QPoint(widget_pos.x(), widget_pos.y()))
    qtbot.waitUntil(lambda: window.readout.text() != "")
    text = window.readout.text()
    assert text.startswith("t ") and "kHz" in text and "dB" in text
    assert "× threshold (raw " in text  # the colour bar's unit, the raw score beside it
    (x0, x1), _ = view.vb.viewRange()
    px = (x1 - x0) / view.vb.width()  # seconds per pixel: the mouse lands on whole pixels
    assert float(text.split()[1]) == pytest.approx(1.1, abs=max(0.01, 2 * px))
    # the crosshair follows the cursor, with the read-out in the view's corner
    assert all(line.isVisible() for line in view.crosshair)
    assert view.crosshair[0].value() == pytest.approx(1.1, abs=max(0.01, 2 * px))
    assert view.cursor_label.isVisible() and " s  " in view.cursor_label.textItem.toPlainText()
    # exact values at a known view position: the level from the display spectrogram (the
    # 0.3-amplitude burst reads 20 log10 0.3 = -10.5 dB FS, less the window's scalloping),
    # the score from the map's cell holding that time and frequency
    qtbot.waitUntil(lambda: view.picture_kind == "fine", timeout=TIMEOUT)
    y = view.band_scale.y_of_hz(tone_hz)
    ro = view.readout_at(1.1, y)
    pic, r = view.picture, window.state.result
    col, row = nearest(pic.times, 1.1), nearest(pic.freqs, tone_hz)
    assert ro.time_s == pytest.approx(1.1)
    assert ro.freq_hz == pytest.approx(tone_hz, rel=1e-6)
    assert ro.unit == "dB FS"
    assert ro.level_db == pytest.approx(float(pic.values[row, col]))
    assert ro.level_db == pytest.approx(20 * np.log10(0.3), abs=2.0)
    row, col = nearest(r.freqs, tone_hz, mel=True), nearest(r.times, 1.1)
    assert r.freqs[row - 1] < tone_hz < r.freqs[row + 1]
    assert ro.score == pytest.approx(float(r.map[row, col]))
    cal = window.state.model.calibration
    assert ro.calibrated == pytest.approx(float(cal.calibrated(r.map[row:row + 1, col:col + 1])[0, 0]))
    # over the frame-score track: time and that frame's score
    track = view.score_plot.vb.mapViewToScene(QPointF(1.1, 0.0))
    view.glw.scene().sigMouseMoved.emit(track)
    assert window.readout.text().startswith("t 1.100 s   frame ")
    assert "× threshold (raw " in window.readout.text()
    view.glw.scene().sigMouseMoved.emit(QPointF(-100.0, -100.0))  # outside: readout clears
    assert window.readout.text() == ""


def test_fit_runs_in_background_and_gui_stays_responsive(
    qtbot, window, tiny_dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fit is held at its start until the GUI thread has handled an event posted after
    # controller.fit() returned: that can only happen if the fit runs on another thread while
    # the event loop keeps turning (a fit on the GUI thread would time out the gate instead).
    real_fit = pipeline.fit
    gate = threading.Event()
    seen: dict[str, object] = {}

    def gated_fit(*args, **kwargs):
        seen["fit_thread"] = threading.get_ident()
        seen["gate_opened"] = gate.wait(20)
        return real_fit(*args, **kwargs)

    def from_the_event_loop() -> None:
        seen["gui_thread"] = threading.get_ident()
        seen["busy"] = (window.progress.isVisibleTo(window)
                        and not window.menu_actions["fit"].isEnabled())
        gate.set()

    monkeypatch.setattr(pipeline, "fit", gated_fit)
    progress: list[tuple[int, int]] = []
    window.controller.task_progress.connect(lambda d, t: progress.append((d, t)))
    with qtbot.waitSignal(window.controller.task_ended, timeout=TIMEOUT) as blocker:
        window.controller.fit(tiny_dataset, overrides={"coreset_ratio": "0.05"})
        assert window.progress.isVisibleTo(window) and window.cancel_button.isVisibleTo(window)
        assert not window.menu_actions["fit"].isEnabled()
        QTimer.singleShot(0, from_the_event_loop)
    assert blocker.args[0] == "done"
    # the event was handled while the fit waited on it, with the window showing the fit busy
    assert seen["gate_opened"] is True and seen["busy"] is True
    assert seen["fit_thread"] != seen["gui_thread"] == threading.main_thread().ident
    assert window.state.model is not None and window.state.model.info["n_train_clips"] == 4
    assert window.state.model_path is None and "unsaved" in window.windowTitle()
    assert progress and progress[-1][0] == progress[-1][1]
    assert not window.progress.isVisibleTo(window) and window.menu_actions["fit"].isEnabled()
    # the fitted model saves, and the window now names its file
    out = window.controller.save_model(Path(window.settings.fileName()).parent / "fitted")
    assert out and window.state.model_path.name == "fitted.safetensors"
    assert window.state.model_path.is_file() and "fitted.safetensors" in window.windowTitle()


def test_trained_method_fit_reports_epoch_and_loss(qtbot, window, tiny_dataset) -> None:
    messages: list[str] = []
    window.controller.status.connect(messages.append)
    with qtbot.waitSignal(window.controller.task_ended, timeout=TIMEOUT) as blocker:
        window.controller.fit(tiny_dataset, method="stfpm",
                              overrides={"detector.epochs": "2", "detector.crop_seconds": "0.5"})
    assert blocker.args[0] == "done", blocker.args
    assert window.state.model.method == "stfpm"
    assert any(m.startswith("stfpm: epoch 2, loss ") for m in messages), messages


def test_cancel_fit_keeps_the_model(qtbot, window, tiny_dataset, model_path) -> None:
    load_model(qtbot, window, model_path)
    before = window.state.model
    window.controller.task_progress.connect(lambda d, t: window.cancel_button.click())
    with qtbot.assertNotEmitted(window.state.model_changed, wait=100):
        with qtbot.waitSignal(window.controller.task_ended, timeout=TIMEOUT) as blocker:
            window.controller.fit(tiny_dataset, overrides={"coreset_ratio": "0.05"})
    assert blocker.args[0] == "cancelled"
    assert window.state.model is before
    assert window.controller.task is None and not window.progress.isVisibleTo(window)


def test_bad_file_shows_error_and_keeps_clip(qtbot, window, tiny_dataset, tmp_path) -> None:
    good = tiny_dataset / "test" / "normal_000.wav"
    open_clip(qtbot, window, good)
    shown = window.state.display
    bad = tmp_path / "broken.wav"
    bad.write_text("this is not audio\n")
    with qtbot.waitSignal(window.controller.error, timeout=TIMEOUT):
        window.controller.open_clip(bad)
    assert window.state.clip_path == good and window.state.display is shown
    title, message = window.last_error
    assert "broken.wav" in title and "cannot read audio" in message
    assert "broken.wav" in window.statusBar().currentMessage()


def test_bad_model_file_shows_error(qtbot, window, tmp_path) -> None:
    bad = tmp_path / "junk.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with qtbot.waitSignal(window.controller.task_ended, timeout=TIMEOUT) as blocker:
        window.open_path(bad)
    assert blocker.args[0] == "failed" and window.state.model is None
    assert "junk.safetensors" in window.last_error[1]


def test_dataset_list_and_ground_truth_boxes(qtbot, window, tiny_dataset, burst) -> None:
    t0, t1, _hz = burst
    assert window.controller.open_folder(tiny_dataset)
    panel = window.file_panel
    names = [p.name for p in panel.paths()]
    assert names[:4] == [f"normal_{i:03d}.wav" for i in range(4)]
    assert names[4:] == ["anomaly_000.wav", "normal_000.wav"]
    anomaly = tiny_dataset / "test" / "anomaly_000.wav"
    assert panel._items[anomaly].text(1).startswith("anomaly")
    assert panel._items[tiny_dataset / "test" / "normal_000.wav"].text(1) == "normal"
    with qtbot.waitSignal(window.state.clip_loaded, timeout=TIMEOUT):
        assert panel.select_path(anomaly)
    view = window.view
    rois = view.box_layer.rois
    assert len(rois) == 1
    (x, y), (w, h) = rois[0].pos(), rois[0].size()
    assert (x, x + w) == (pytest.approx(t0), pytest.approx(t1))
    assert y == pytest.approx(view.band_scale.y_of_hz(3500.0))
    assert y + h == pytest.approx(view.band_scale.y_of_hz(4500.0))
    window.overlay_panel.boxes_check.setChecked(False)
    assert not rois[0].isVisible()
    # a recording opened on its own (not in the list) leaves nothing selected there
    outside = Path(window.settings.fileName()).parent / "single.wav"
    outside.write_bytes(anomaly.read_bytes())
    open_clip(qtbot, window, outside)
    assert panel.tree.currentItem() is None and not panel.tree.selectedItems()
    assert view.box_layer.rois == []


def test_only_the_latest_clip_request_is_shown(qtbot, window, tiny_dataset) -> None:
    a, b = (tiny_dataset / "test" / n for n in ("anomaly_000.wav", "normal_000.wav"))
    shown: list[Path] = []
    window.state.clip_loaded.connect(shown.append)
    window.controller.open_clip(a)
    window.controller.open_clip(b)
    qtbot.waitUntil(lambda: window.state.clip_path == b, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.controller._clip_job is None, timeout=TIMEOUT)
    assert shown == [b]


def test_drop_model_and_recording(qtbot, window, tiny_dataset, model_path) -> None:
    clip = tiny_dataset / "test" / "anomaly_000.wav"
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(clip)), QUrl.fromLocalFile(str(model_path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.state.result is not None and window.state.clip_path == clip,
                    timeout=TIMEOUT)
    assert window.state.model_path == model_path


def test_preferences_are_remembered(qtbot, settings) -> None:
    first = MainWindow(settings=settings)
    qtbot.addWidget(first)
    first.overlay_panel.opacity_slider.setValue(45)
    first.overlay_panel.heat_cmap.setCurrentText("turbo")
    first._remember_dir("folder", "/tmp")
    first.close()
    second = MainWindow(settings=settings)
    qtbot.addWidget(second)
    assert second.overlay_panel.opacity_slider.value() == 45
    assert second.view.heat_item.opacity() == pytest.approx(0.45)
    assert second.view.heat_cmap_name == "turbo"
    assert second._last_dir("folder") == "/tmp"


def test_about_credits_the_weights() -> None:
    assert "aisfx weights by A. B. Ma and A. Lerch (ISMIR 2022), CC BY 4.0" in ABOUT


def test_fit_dialog_reports_changed_parameters(qtbot) -> None:
    from specview.gui.fit_dialog import FitDialog

    dlg = FitDialog("/data/fan")
    qtbot.addWidget(dlg)
    dlg.method_form.edits["coreset_ratio"].setText("0.05")
    dlg.encoder_form.edits["layers"].setText("block2")
    folder, method, encoder, over = dlg.choice()
    assert folder == Path("/data/fan") and (method, encoder) == ("patchcore", "aisfx")
    assert over == {"detector.coreset_ratio": "0.05", "encoder.layers": "block2"}


def test_score_all_ranks_clips_and_shares_the_colour_scale(
    qtbot, window, tiny_dataset, model_path
) -> None:
    load_model(qtbot, window, model_path)
    window.controller.open_folder(tiny_dataset)
    anomaly, normal = (tiny_dataset / "test" / n for n in ("anomaly_000.wav", "normal_000.wav"))
    panel = window.overlay_panel
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("shared"))
    open_clip(qtbot, window, normal, scored=True)
    view, state = window.view, window.state
    assert np.array_equal(view.heat_grid, state.result.map)  # raw scores when shared
    normal_max = float(state.result.map.max())
    assert view.colorbar.levels() == (0.0, pytest.approx(normal_max))
    with qtbot.waitSignal(window.controller.task_ended, timeout=TIMEOUT) as blocker:
        window.file_panel.score_button.click()
    assert blocker.args[0] == "done"
    assert set(state.scores) == {anomaly, normal}
    assert state.scores[anomaly].clip_score > state.scores[normal].clip_score
    items = window.file_panel._items
    assert items[anomaly].text(2) == state.scores[anomaly].text() + " ⚑"  # flagged
    # shared scale: the normal clip is now drawn on the anomaly's range, so it looks calm
    assert view.colorbar.levels()[1] == pytest.approx(state.scores[anomaly].map_max)
    assert view.heat_item.getLevels()[1] == pytest.approx(state.scores[anomaly].map_max)
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("clip"))
    assert view.colorbar.levels()[1] == pytest.approx(normal_max)
    panel.scale_combo.setCurrentIndex(panel.scale_combo.findData("fixed"))
    view.colorbar.setLevels((0.0, 2.0))
    open_clip(qtbot, window, anomaly, scored=True)
    assert tuple(view.heat_item.getLevels()) == (0.0, 2.0)
    # the list ranks by score when its header is clicked
    window.file_panel.tree.sortByColumn(2, Qt.SortOrder.DescendingOrder)
    test_group = items[anomaly].parent()
    assert test_group.child(0) is items[anomaly]


def test_fit_dialog_shows_each_methods_own_encoder_defaults(qtbot) -> None:
    """PaDiM (as CFA and STFPM) reads aisfx's blocks 2-4 by default: the form shows them, and a form left as it
    is asks for nothing, so the fit gets the method's defaults."""
    from specview.gui.fit_dialog import FitDialog

    dlg = FitDialog("/data/fan")
    qtbot.addWidget(dlg)
    assert dlg.encoder_form.edits["layers"].text() == "block2,block3"
    dlg.method.setCurrentText("padim")
    assert dlg.encoder_form.edits["layers"].text() == "block2,block3,block4"
    assert dlg.choice()[3] == {}
    dlg.encoder_form.edits["layers"].setText("block2,block3")
    assert dlg.choice()[3] == {"encoder.layers": "block2,block3"}
