"""The child processes of test_stress.py and test_crash_handler.py (not a test module).

    python tests/gui/gui_child.py stress DATASET MODEL REPORT.json [--seconds 50] [--cycles 20]
    python tests/gui/gui_child.py quit-busy DATASET MODEL
    python tests/gui/gui_child.py abort|fatal

Run as a child so that an abort of the interpreter (status 134) fails the test that started it
instead of killing pytest. ``stress`` opens the real main window with a model on a long
synthetic recording (30 minutes of frames: heatmap, filled frame-score curve, truth boxes,
flagged regions, colour bar all on screen), repaints every graphics item under programmatic
zoom and pan, then opens and quits the window ``--cycles`` times, and writes what it measured
to REPORT.json. ``quit-busy`` quits through File ▸ Quit while background jobs run, through
:func:`specview.app.run_gui` as the command line does. ``abort`` and ``fatal`` install the
crash handler and abort (a signal; a Python fatal error), to show what the crash log keeps.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

#: Frames of the long recording: 30 minutes at the default encoder's 23.2 ms hop (2 hours
#: would spend ~22 s in the Scores panel's metrics, computed in the GUI thread, before painting).
LONG_FRAMES = 77_500
#: Where the anomalous clip is pasted into the long one (fractions of its length).
PASTES = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


def none_refs() -> int:
    """``None``'s reference count (what a binding that over-releases it drives to 0)."""
    return sys.getrefcount(None)


def settings(folder: Path):
    """Preferences in a throw-away file, never the user's."""
    from PySide6.QtCore import QSettings

    return QSettings(str(folder / "specview.ini"), QSettings.Format.IniFormat)


def wait_until(app, cond, timeout: float = 60.0) -> None:
    """Process events until ``cond()`` holds; raise after ``timeout`` seconds."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"waited {timeout} s")
        app.processEvents()
        time.sleep(0.005)


def long_clip(model, dataset: Path, n_frames: int = LONG_FRAMES, seed: int = 0):
    """A long recording made of the dataset's scored clips: the normal clip's frames in random
    order (their scores kept under the flag threshold), the anomalous clip pasted at
    :data:`PASTES`, each paste with its truth box.

    Returns ``(display, result, boxes)`` as the controller hands them to the window.
    """
    from specview.types import AnomalyResult, Box, Spectrogram

    normal = model.score_file(dataset / "test" / "normal_000.wav")
    anomaly = model.score_file(dataset / "test" / "anomaly_000.wav")
    nd, nr, ad, ar = normal.display, normal.result, anomaly.display, anomaly.result
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, nd.values.shape[1], n_frames)
    values, amap = nd.values[:, cols], nr.map[:, cols]
    cal = model.calibration  # normal frames stay under the flag threshold, as a model's
    amap = np.minimum(amap, cal.median + 0.9 * (cal.threshold - cal.median))  # normal clips do
    frames = nr.frame_scores[cols].astype(np.float32)
    hop = float(np.median(np.diff(nd.times)))
    times = float(nd.times[0]) + hop * np.arange(n_frames)
    boxes = []
    width = ad.values.shape[1]
    for k, where in enumerate(PASTES):
        c = int(where * (n_frames - width))
        values[:, c:c + width], amap[:, c:c + width] = ad.values, ar.map
        frames[c:c + width] = ar.frame_scores
        boxes.append(Box(times[c] + 0.8, times[c] + 1.4, 3500.0, 4500.0, label=f"tone {k}"))
    display = Spectrogram(values, times, nd.freqs, nd.unit, duration=n_frames * hop)
    result = AnomalyResult(amap, times, nr.freqs, float(amap.max()), frames)
    return display, result, boxes


def drive(app, win, rng, seconds: float, stats: dict) -> None:
    """Zoom, pan and repaint ``win`` for ``seconds``: the spectrogram plot and the score strip
    (linked in time) by ``setXRange``/``setYRange`` then a synchronous ``repaint`` of the
    graphics view (its viewport: every item of the scene, colour bar included); every tenth
    frame the whole window by ``grab`` (docks, tables, colour bar); now and then a box is
    selected, the heatmap's colours and scale change, the zoom is reset."""
    view = win.view
    x0, x1 = view._rect.left(), view._rect.right()
    n_bands = view._rect.bottom()
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        i = stats["frames"]
        span = float(np.exp(rng.uniform(np.log(2.0), np.log(x1 - x0))))
        start = float(rng.uniform(x0, max(x1 - span, x0)))
        view.vb.setXRange(start, start + span, padding=0.0)
        if i % 3 == 0:
            lo = float(rng.uniform(0, n_bands * 0.7))
            view.vb.setYRange(lo, float(rng.uniform(lo + 4, n_bands)), padding=0.0)
        if i % 7 == 0 and win.state.boxes:
            win.state.select(int(rng.integers(0, len(win.state.boxes))))
        if i % 11 == 0:
            view.set_heat_colormap(("inferno", "viridis", "turbo")[i % 3])
        if i % 13 == 0:
            view.set_scale_mode(("calibrated", "clip", "shared")[i % 3])
        if i % 17 == 0:
            view.reset_zoom()
        app.processEvents()
        before = none_refs()
        view.glw.viewport().repaint()
        if i % 10 == 0:
            win.grab()
        stats["none_lost_in_paint"] += before - none_refs()
        stats["frames"] += 1


def stress(args: argparse.Namespace) -> int:
    import shiboken6

    from specview import pipeline
    from specview.app import CrashHandler, _application, make_main_window

    app = _application()
    crash = CrashHandler().install()  # a fault's traceback, an uncaught exception: in the log
    tmp = Path(args.report).parent
    model = pipeline.load_model(args.model)
    display, result, boxes = long_clip(model, Path(args.dataset))
    rng = np.random.default_rng(1)
    stats = {"frames": 0, "none_lost_in_paint": 0, "samples": []}
    t0 = time.monotonic()

    win = make_main_window(settings=settings(tmp))
    win.state.set_model(model, Path(args.model))
    win.state.set_clip(tmp / "long_2h.wav", display, result, boxes)
    win.show()
    wait_until(app, lambda: win.view.score_plot.isVisible())
    stats["long"] = {"frames": int(len(result.times)), "duration_s": float(display.duration),
                     "boxes": len(boxes), "flagged": len(win.state.flagged),
                     "curve_points": int(len(win.view.score_curve.xData))}
    stats["none_refs_start"] = none_refs()
    t_paint = time.monotonic()
    for _ in range(int(args.seconds)):
        drive(app, win, rng, 1.0, stats)
        stats["samples"].append(none_refs())
    stats["repaint_long_s"] = time.monotonic() - t_paint
    fill_paths = len(win.view.score_curve.curve._fillPathList or [])
    stats["fill_paths_last_paint"] = fill_paths
    win.menu_actions["quit"].trigger()
    app.processEvents()
    stats["quit_closed"] = not win.isVisible()
    shiboken6.delete(win)

    # open and quit: a fresh window each time, loading the model and scoring a clip itself
    clip = Path(args.dataset) / "test" / "anomaly_000.wav"
    t_cycles, repaint_cycles = time.monotonic(), 0.0
    stats["cycles"] = 0
    for _ in range(args.cycles):
        win = make_main_window([str(clip)], model=args.model, settings=settings(tmp))
        win.show()
        wait_until(app, lambda w=win: w.state.result is not None and w.view.score_plot.isVisible())
        t = time.monotonic()
        drive(app, win, rng, args.cycle_paint, stats)
        repaint_cycles += time.monotonic() - t
        win.menu_actions["quit"].trigger()
        app.processEvents()
        if win.isVisible() or win.controller.runner.active:
            raise RuntimeError("File ▸ Quit left the window open or a job running")
        shiboken6.delete(win)
        app.processEvents()
        stats["cycles"] += 1
    stats["cycles_s"] = time.monotonic() - t_cycles
    stats["repaint_s"] = stats["repaint_long_s"] + repaint_cycles
    stats["none_refs_end"] = none_refs()
    stats["total_s"] = time.monotonic() - t0
    stats["platform"] = app.platformName()
    stats["uncaught_exceptions"] = crash.exceptions
    crash.uninstall("stress run done")
    Path(args.report).write_text(json.dumps(stats))
    return 0


def quit_busy(args: argparse.Namespace) -> int:
    """File ▸ Quit while a fit (cancellable) and a job that ignores cancelling both run."""
    from PySide6.QtCore import QTimer

    from specview.app import _application, run_gui
    from specview.gui import workers

    app = _application()
    workers.QUIT_WAIT_MS = int(args.wait_ms)
    started: dict = {}

    def stubborn(_progress) -> None:
        time.sleep(args.stubborn_s)  # no progress calls: cannot be cancelled

    def begin() -> None:
        win = next(w for w in app.topLevelWidgets() if hasattr(w, "controller"))
        c = win.controller
        started["fit"] = c.fit(Path(args.dataset))
        started["stubborn"] = c.runner.start(workers.Job(stubborn, name="stubborn job",
                                                         cancellable=False, parent=c))
        QTimer.singleShot(300, lambda: (print("quitting", flush=True),
                                        win.menu_actions["quit"].trigger()))

    QTimer.singleShot(0, begin)
    t0 = time.monotonic()
    code = run_gui([str(Path(args.dataset) / "test" / "anomaly_000.wav")], model=args.model)
    print(json.dumps({"quit_s": time.monotonic() - t0, "code": code}), flush=True)
    return code


def abort(_args: argparse.Namespace) -> int:
    """A hard crash after the crash handler is installed."""
    from specview.app import CrashHandler

    handler = CrashHandler().install()
    handler.describe = lambda: "clip /data/fan/clip_007.wav (3 boxes); model /m/fan.safetensors"
    handler.note(f"open: {handler.describe()}")
    os.abort()


def fatal(_args: argparse.Namespace) -> int:
    """The issue's abort itself: None's reference count driven to 0 (``none_dealloc``), as
    PySide6 6.12.0 did one Qt call at a time, with the crash handler installed as the app
    installs it."""
    import ctypes

    from specview.app import CrashHandler

    handler = CrashHandler().install(fatal_errors=True)
    handler.note("open: clip /data/fan/clip_007.wav (3 boxes); model /m/fan.safetensors")
    release = ctypes.pythonapi.Py_DecRef
    release.argtypes = [ctypes.py_object]
    while True:
        release(None)


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("stress")
    s.add_argument("dataset")
    s.add_argument("model")
    s.add_argument("report")
    s.add_argument("--seconds", type=float, default=50.0, help="repainting the long recording")
    s.add_argument("--cycles", type=int, default=20)
    s.add_argument("--cycle-paint", type=float, default=0.5, help="repainting in each cycle (s)")
    s.set_defaults(func=stress)
    q = sub.add_parser("quit-busy")
    q.add_argument("dataset")
    q.add_argument("model")
    q.add_argument("--wait-ms", type=int, default=2000)
    q.add_argument("--stubborn-s", type=float, default=8.0)
    q.set_defaults(func=quit_busy)
    a = sub.add_parser("abort")
    a.set_defaults(func=abort)
    f = sub.add_parser("fatal")
    f.set_defaults(func=fatal)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
