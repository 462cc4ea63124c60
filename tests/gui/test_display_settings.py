"""The expert's spectrogram in the window (issue 15), with known answers: the display
spectrogram under the heatmap, its settings, box measurements, preferences, sessions and
Export view."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import gui_mouse
import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from specview.annotations import read_raven, sidecar_path
from specview.audio import write_audio
from specview.display import DisplaySettings
from specview.gui import prefs
from specview.gui.fine_view import GUI_DEFAULT
from specview.gui.main_window import MainWindow
from specview.measure import COLUMNS, DEFAULT_SHOWN

TIMEOUT = 60000
SR = 44100


def tones(path: Path, parts, seconds: float = 2.0, noise: float = 1e-4) -> Path:
    """``parts``: ``(hz, amplitude, t0, t1)`` sines, with a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    x = noise * np.random.default_rng(0).standard_normal(t.size)
    for hz, amp, a, b in parts:
        x += np.where((t >= a) & (t < b), amp * np.sin(2 * np.pi * hz * t), 0.0)
    write_audio(path, x.astype(np.float32), SR)
    return path


def show(qtbot, win, path: Path, *, scored: bool = False, fine: bool = True) -> None:
    win.controller.open_clip(path)
    qtbot.waitUntil(lambda: win.state.clip_path == path
                    and (not scored or win.state.result is not None), timeout=TIMEOUT)
    if fine:
        wait_fine(qtbot, win)


def wait_fine(qtbot, win) -> None:
    qtbot.waitUntil(lambda: win.view.picture_kind == "fine"
                    and win.view.picture is win.fine.picture
                    and win.fine.key() in win.fine.cache, timeout=TIMEOUT)


def set_display(qtbot, win, **kw) -> DisplaySettings:
    s = replace(win.fine.settings, **kw)
    win.overlay_panel.display.set_settings(s)  # what the panel shows ...
    win.overlay_panel.display.settings_changed.emit(s)  # ... and what it tells the window
    assert win.fine.settings == s
    wait_fine(qtbot, win)
    return s


def image_profile(view) -> tuple[np.ndarray, np.ndarray]:
    """The image the view holds, averaged over time, and each row's frequency (Hz)."""
    img = view.spec_item.image
    r = view.spec_item.mapRectToParent(view.spec_item.boundingRect())
    y = r.top() + (np.arange(img.shape[0]) + 0.5) * r.height() / img.shape[0]
    prof = np.full(img.shape[0], -np.inf)
    ok = np.isfinite(img).all(axis=1)  # rows beyond the picture's bands are NaN
    prof[ok] = img[ok, 5:-5].mean(axis=1)
    return prof, np.asarray(view.band_scale.hz_of_y(y))


def ridges(profile, freqs, lo, hi, depth=20.0) -> list[float]:
    """Local maxima of a level profile between lo and hi Hz, within ``depth`` dB of its top
    (rows of one band, equal, count once)."""
    sel = (freqs >= lo) & (freqs <= hi)
    p, f = profile[sel], freqs[sel]
    keep = np.concatenate([[True], np.diff(p) != 0])
    p, f = p[keep], f[keep]
    top = p.max()
    return [float(f[i]) for i in range(1, p.size - 1)
            if p[i] > p[i - 1] and p[i] >= p[i + 1] and p[i] > top - depth]


def settle(win) -> None:
    """The graphics layout (and the docks) settle lazily after the colour bar appears: wait
    until a point of the view stays put."""
    last = None
    for _ in range(50):
        QTest.qWait(50)
        p = win.view.glw.mapFromScene(win.view.scene_pos_of(1.0, 1000.0))
        if p == last:
            return
        last = p


def drag(win, t0: float, f0: float, t1: float, f1: float) -> None:
    settle(win)
    gui_mouse.drag(win, win.view.glw.mapFromScene(win.view.scene_pos_of(t0, f0)),
                   win.view.glw.mapFromScene(win.view.scene_pos_of(t1, f1)))


def test_the_view_resolves_two_tones_50_hz_apart_the_encoder_grid_does_not(
        qtbot, window, tmp_path) -> None:
    clip = tones(tmp_path / "two.wav", [(1000.0, 0.3, 0, 9), (1050.0, 0.3, 0, 9)])
    window.fine.set_settings(replace(GUI_DEFAULT, n_fft=4096, scale="linear"))
    with qtbot.waitSignal(window.state.clip_loaded, timeout=TIMEOUT):
        window.controller.open_clip(clip)
    view = window.view
    assert view.picture_kind == "grid"  # the encoder's grid first, placed by its Hz
    grid, grid_hz = image_profile(view)
    assert len(ridges(grid, grid_hz, 800, 1300)) == 1
    wait_fine(qtbot, window)
    fine, fine_hz = image_profile(view)
    assert view.spec_item.image.shape[0] == 2049  # the FFT's bins, 10.8 Hz apart
    peaks = ridges(fine, fine_hz, 900, 1150)
    assert len(peaks) == 2
    assert abs(peaks[0] - 1000) < 11 and abs(peaks[1] - 1050) < 11
    assert fine.max() - fine[(fine_hz > 1015) & (fine_hz < 1035)].min() > 20
    # read out under the cursor at 1050 Hz: the tone's level (0.3 = -10.5 dB FS)
    ro = view.readout_at(1.0, view.band_scale.y_of_hz(1050.0))
    assert ro.level_db == pytest.approx(20 * math.log10(0.3), abs=1.6) and ro.unit == "dB FS"


def test_a_drawn_box_keeps_its_seconds_and_hz_whatever_the_display_settings(
        qtbot, window, tmp_path, model_path) -> None:
    clip = tones(tmp_path / "burst.wav", [(3000.0, 0.3, 0.6, 1.2)])
    with qtbot.waitSignal(window.state.model_changed, timeout=TIMEOUT):
        window.controller.load_model(model_path)
    show(qtbot, window, clip, scored=True)
    view, state = window.view, window.state
    window.menu_actions["box_tool"].trigger()
    drag(window, 0.5, 2000.0, 1.3, 4500.0)
    qtbot.waitUntil(lambda: len(state.boxes) == 1, timeout=5000)
    box = state.boxes[0]
    assert box.t0 == pytest.approx(0.5, abs=0.05) and box.f1 == pytest.approx(4500, rel=0.08)
    view.show_region(0.2, 1.6, 1000.0, 8000.0)
    heat_hz = None
    for kw in ({"n_fft": 4096, "scale": "linear"}, {"n_fft": 512, "overlap": 0.5},
               {"scale": "log", "fmin": 100.0, "fmax": 12000.0},
               {"scale": "mel", "zero_padding": 4, "fmin": 0.0, "fmax": None},
               {"n_fft": 16384, "window": "blackmanharris", "scale": "linear"}):
        s = set_display(qtbot, window, **kw)
        assert state.boxes == [box]  # the same seconds and Hz, exactly
        roi = view.box_layer.rois[0]
        (x, y), (w, h) = roi.pos(), roi.size()
        assert (x, x + w) == (pytest.approx(box.t0), pytest.approx(box.t1))
        assert view.band_scale.hz_of_y(y) == pytest.approx(box.f0, rel=1e-9)
        assert view.band_scale.hz_of_y(y + h) == pytest.approx(box.f1, rel=1e-9)
        # the view shows the same seconds and Hz as before
        t0, t1, f0, f1 = view.visible_region()
        assert (t0, t1) == (pytest.approx(0.2), pytest.approx(1.6))
        assert (f0, f1) == (pytest.approx(max(1000.0, s.fmin), rel=1e-6),
                            pytest.approx(min(8000.0, s.fmax or 1e9), rel=1e-6))
        # the picture under the box holds the tone at its frequency on every scale
        img = view.spec_item.image
        r = view.spec_item.mapRectToParent(view.spec_item.boundingRect())
        rows = r.top() + (np.arange(img.shape[0]) + 0.5) * r.height() / img.shape[0]
        cols = r.left() + (np.arange(img.shape[1]) + 0.5) * r.width() / img.shape[1]
        inside = img[np.ix_((rows >= view.box_layer.rect_of(box).top())
                            & (rows <= view.box_layer.rect_of(box).bottom()),
                            (cols > 0.7) & (cols < 1.1))]
        peak_row = rows[(rows >= view.box_layer.rect_of(box).top())][
            int(np.argmax(np.nanmean(inside, axis=1)))]
        assert view.band_scale.hz_of_y(peak_row) == pytest.approx(3000.0, rel=0.02)
        # the heatmap stays on the map's own frequencies, whatever the scale
        hi = view.heat_item.mapRectToParent(view.heat_item.boundingRect())
        top_hz = view.band_scale.hz_of_y(hi.bottom())
        heat_hz = top_hz if heat_hz is None else heat_hz
        assert top_hz == pytest.approx(min(heat_hz, view.band()[1]), rel=0.02)


def test_measurements_of_a_drawn_box_over_a_tone_burst_appear_in_the_table(
        qtbot, window, tmp_path) -> None:
    clip = tones(tmp_path / "burst.wav", [(2000.0, 0.5, 0.5, 1.0)])
    show(qtbot, window, clip)
    panel, state = window.box_panel, window.state
    assert panel.measure_keys == list(DEFAULT_SHOWN)
    window.menu_actions["box_tool"].trigger()
    drag(window, 0.4, 1500.0, 1.1, 2600.0)
    qtbot.waitUntil(lambda: len(state.boxes) == 1, timeout=5000)
    col = panel.measurement_column("peak_freq")
    qtbot.waitUntil(lambda: panel.table.item(0, col) is not None
                    and panel.table.item(0, col).text() not in ("", "…"), timeout=TIMEOUT)
    s = window.fine.settings
    bin_hz = SR / (s.n_fft * s.zero_padding)
    assert float(panel.table.item(0, col).text()) == pytest.approx(2000.0, abs=bin_hz)
    power = float(panel.table.item(0, panel.measurement_column("peak_power")).text())
    assert power == pytest.approx(20 * math.log10(0.5), abs=1.5)  # Hann scalloping <= 1.42
    box = state.boxes[0]
    assert float(panel.table.item(0, panel.measurement_column("duration")).text()) == (
        pytest.approx(box.t1 - box.t0, abs=1e-4))
    assert panel.table.horizontalHeaderItem(col).text() == "Peak f\n(Hz)"
    # more columns from the header's menu, kept in the preferences; not editable
    panel._toggle_measure("center_freq", True)
    assert "center_freq" in panel.measure_keys
    assert prefs.load_measure_keys(window.settings) == panel.measure_keys
    c = panel.measurement_column("center_freq")
    qtbot.waitUntil(lambda: panel.table.item(0, c).text() not in ("", "…"), timeout=TIMEOUT)
    assert float(panel.table.item(0, c).text()) == pytest.approx(2000.0, abs=bin_hz)
    assert not panel.table.item(0, c).flags() & Qt.ItemFlag.ItemIsEditable
    # the sidecar holds the box as drawn, no measurement cells ...
    assert list(read_raven(sidecar_path(clip))[0].extra) == []
    # ... a Raven export carries them as Raven's columns
    out = tmp_path / "export.txt"
    assert window.annotator.export_file(out, "raven")
    head, row = out.read_text().splitlines()[:2]
    cells = dict(zip(head.split("\t"), row.split("\t"), strict=True))
    assert float(cells[COLUMNS["peak_freq"]]) == pytest.approx(2000.0, abs=bin_hz)
    assert float(cells[COLUMNS["center_freq"]]) == pytest.approx(2000.0, abs=bin_hz)
    assert COLUMNS["map_peak"] not in cells  # no model: no map to measure


def test_a_users_table_keeps_its_cells_in_an_export_with_measurements(
        qtbot, window, tmp_path) -> None:
    clip = tones(tmp_path / "user.wav", [(2000.0, 0.5, 0.5, 1.0)])
    sidecar_path(clip).write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tPeak Freq (Hz)\tSpecies\n"
        "1\tSpectrogram 1\t1\t0.4\t1.1\t1500\t2600\t1999.9\twhistle\n")
    show(qtbot, window, clip)
    panel = window.box_panel
    c = panel.measurement_column("peak_power")
    qtbot.waitUntil(lambda: panel.table.item(0, c) is not None
                    and panel.table.item(0, c).text() not in ("", "…"), timeout=TIMEOUT)
    out = tmp_path / "export.txt"
    assert window.annotator.export_file(out, "raven")
    head, row = out.read_text().splitlines()[:2]
    # every column and cell of the user's row, in its order; the measurements as new columns
    old = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
           "High Freq (Hz)\tPeak Freq (Hz)\tSpecies")
    assert head.startswith(old + "\t") and row.startswith(
        "1\tSpectrogram 1\t1\t0.4\t1.1\t1500\t2600\t1999.9\twhistle\t")
    cells = dict(zip(head.split("\t"), row.split("\t"), strict=True))
    assert cells["Peak Freq (Hz)"] == "1999.9"  # the user's cell, not ours
    assert float(cells[COLUMNS["peak_power"]]) == pytest.approx(-6.0, abs=1.5)
    assert cells[COLUMNS["duration"]] == "0.7000"


def test_display_settings_and_preferences_survive_a_restart(qtbot, tmp_path, tiny_dataset
                                                           ) -> None:
    ini = tmp_path / "prefs.ini"
    first = MainWindow(settings=QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    clip = tiny_dataset / "test" / "normal_000.wav"
    show(qtbot, first, clip, fine=False)
    panel = first.overlay_panel.display
    panel.fft.setCurrentIndex(panel.fft.findData(4096))
    panel.scale.setCurrentText("log")
    panel.fmax.setValue(8000.0)
    panel.colormap.setCurrentText("magma")
    panel.gain.setValue(6.0)
    qtbot.waitUntil(lambda: first.fine.settings.gain_db == 6.0, timeout=5000)  # after a pause
    wanted = first.fine.settings
    assert (wanted.n_fft, wanted.scale, wanted.fmax, wanted.colormap) == (4096, "log", 8000.0,
                                                                          "magma")
    first.box_panel._choose(["peak_time", "energy"])
    first.overlay_panel.heat_cmap.setCurrentText("viridis")
    first.close()
    again = MainWindow(settings=QSettings(str(ini), QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    assert again.fine.settings == wanted
    assert again.view.settings == wanted and again.overlay_panel.display.settings() == wanted
    assert again.box_panel.measure_keys == ["peak_time", "energy"]
    assert again.view.heat_cmap_name == "viridis"
    assert prefs.recent(again.settings, prefs.RECENT_FILES)[0] == str(clip.resolve())
    again.recent_menu.aboutToShow.emit()
    assert any(a.text().startswith(clip.name) for a in again.recent_menu.actions())


def test_a_session_file_reopens_the_clip_model_span_and_settings(
        qtbot, window, settings, tmp_path, tiny_dataset, model_path) -> None:
    clip = tiny_dataset / "test" / "anomaly_000.wav"
    with qtbot.waitSignal(window.state.model_changed, timeout=TIMEOUT):
        window.controller.load_model(model_path)
    window.controller.open_folder(tiny_dataset)
    show(qtbot, window, clip, scored=True)
    s = set_display(qtbot, window, n_fft=4096, scale="linear", fmax=16000.0)
    window.view.show_region(0.6, 1.5, 2000.0, 9000.0)
    window.overlay_panel.opacity_slider.setValue(40)
    path = window.save_session(tmp_path / "work.specview-session.json")
    assert path is not None and json.loads(path.read_text())["clip"] == str(clip.resolve())
    other = MainWindow(settings=QSettings(str(tmp_path / "o.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(other)
    restorer = other.open_session(path)
    qtbot.waitUntil(lambda: restorer.done, timeout=TIMEOUT)
    st = other.state
    assert st.clip_path == clip and st.model_path == model_path and st.result is not None
    assert st.dataset is not None and st.dataset.root == tiny_dataset
    assert other.fine.settings == s
    t0, t1, f0, f1 = other.view.visible_region()
    assert (t0, t1, f0, f1) == tuple(pytest.approx(v, rel=1e-6) for v in (0.6, 1.5, 2000, 9000))
    assert other.overlay_panel.opacity_slider.value() == 40
    # unknown keys are ignored; a bad value is refused with a message naming it
    data = json.loads(path.read_text())
    data["from_the_future"] = {"x": 1}
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(data))
    assert other.open_session(ok) is not None
    data["display"]["n_fft"] = 100
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert other.open_session(bad) is None
    assert "display" in other.last_error[1] and "100" in other.last_error[1]
    data["display"]["n_fft"] = 4096
    data["view"]["time"] = [2.0, 1.0]
    bad.write_text(json.dumps(data))
    assert other.open_session(bad) is None and "view.time" in other.last_error[1]


def test_export_view_writes_a_png_of_the_requested_size(qtbot, window, tiny_dataset,
                                                        model_path, tmp_path) -> None:
    with qtbot.waitSignal(window.state.model_changed, timeout=TIMEOUT):
        window.controller.load_model(model_path)
    show(qtbot, window, tiny_dataset / "test" / "anomaly_000.wav", scored=True)
    window.view.show_region(0.5, 1.8, 1000.0, 10000.0)
    out = tmp_path / "view.png"
    with qtbot.waitSignal(window.exporter.written, timeout=TIMEOUT):
        window.exporter.export(out, (900, 500), 100)
    img = QImage(str(out))
    assert (img.width(), img.height()) == (900, 500)
    svg = tmp_path / "view.svg"
    with qtbot.waitSignal(window.exporter.written, timeout=TIMEOUT):
        window.exporter.export(svg, (900, 500), 100)
    assert svg.read_text().lstrip().startswith("<?xml")
    window.exporter.export(tmp_path / "view.bmp")
    assert window.last_error is not None and ".png" in window.last_error[1]


def test_gui_stays_responsive_while_a_fine_picture_is_computed(qtbot, window, tmp_path
                                                              ) -> None:
    """A 60 s recording at FFT 16384, zero padding 8: computed off the GUI thread."""
    import time

    clip = tones(tmp_path / "minute.wav", [(440.0, 0.3, 0, 60)], seconds=60.0)
    show(qtbot, window, clip)
    stalls: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        stalls.append(now - last[0])
        last[0] = now

    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(10)
    set_display(qtbot, window, n_fft=16384, zero_padding=8, scale="mel")
    timer.stop()
    assert window.fine.last_seconds is not None
    assert max(stalls) < 0.5, max(stalls)


def test_the_cursor_read_out_never_covers_the_legend(qtbot, window, tmp_path) -> None:
    """In the view's top-left corner; under the legend where the view is too narrow for both
    side by side (a laptop's window with the box table widened)."""
    clip = tones(tmp_path / "tone.wav", [(3000.0, 0.3, 0.2, 1.8)])
    show(qtbot, window, clip, fine=False)
    view, tops = window.view, []
    for width in (1600, 900):
        window.resize(width, 800)
        settle(window)
        view._on_mouse_moved(view.scene_pos_of(1.0, 3000.0))
        label = view.cursor_label.mapRectToParent(view.cursor_label.boundingRect())
        legend = view.legend.mapRectToParent(view.legend.boundingRect())
        assert view.cursor_label.isVisible() and view.legend.isVisible()
        assert not label.intersects(legend), (width, label, legend)
        assert "3.00 kHz" in view.cursor_label.textItem.toPlainText()
        tops.append(label.top())
    assert tops[0] == pytest.approx(4.0, abs=1.0) and tops[1] > legend.bottom()
