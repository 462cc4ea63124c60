"""Reproduce ``Fatal Python error: none_dealloc`` from a filled pyqtgraph curve (issue 11).

    python bench/repro_fill_crash.py [soak|attribute|probe] [--points 313000] [--seconds 20]

Uses pyqtgraph and PySide6 only (no specview import), so it runs in any virtual environment
with those two installed. Three modes:

``soak`` (default)
    A shown window with one filled ``PlotCurveItem`` (``fillLevel=0``, a translucent brush, as
    specview's frame-score strip: a 2-hour recording at a 23 ms hop is ~313k points), zoomed and
    panned programmatically and repainted synchronously for ``--seconds``, then closed and
    quit. Prints the reference count of ``None`` four times a second and a summary line at the end;
    exit status 0 when it survived, 134 (SIGABRT) when the interpreter aborted.
``attribute``
    Paints the curve once into an image under ``sys.settrace`` and attributes every change of
    ``None``'s reference count to the source line that ran when it happened: the bisection of
    which pyqtgraph line (which Qt call) leaks. Use a few thousand ``--points`` so that one
    paint does not already abort.
``probe``
    ``None``'s reference count change per call of a few Qt methods, outside pyqtgraph.

On Python 3.12 and later ``None`` is immortal (its count never changes and can never reach
zero), so a binding that over-releases it is harmless there and the modes report 0; the abort
needs a Python whose ``None`` is counted, such as 3.11. Run it under Xvfb
(``DISPLAY=:99 QT_QPA_PLATFORM=xcb``) or with ``QT_QPA_PLATFORM=offscreen``.
"""

from __future__ import annotations

import argparse
import collections
import json
import linecache
import os
import sys
import time

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

PEN = "#ffb000"
BRUSH = (255, 176, 0, 60)


def none_refs() -> int:
    """The current reference count of ``None`` (a constant on Python >= 3.12)."""
    return sys.getrefcount(None)


def versions() -> dict[str, str]:
    """Versions of what the result depends on."""
    import shiboken6

    return {"python": sys.version.split()[0], "PySide6": QtCore.__version__,
            "shiboken6": shiboken6.__version__, "Qt": QtCore.qVersion(),
            "pyqtgraph": pg.__version__, "numpy": np.__version__,
            "platform": QtGui.QGuiApplication.platformName()}


def frame_scores(n: int, hop: float = 0.023, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` frame times ``hop`` apart and a positive, spiky score per frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) * hop
    y = np.abs(np.convolve(rng.standard_normal(n), np.ones(9) / 9, mode="same")) + 0.1
    y[rng.integers(0, n, max(n // 5000, 1))] += 5.0
    return t, y


def make_plot(n: int, fill: bool) -> tuple[pg.PlotWidget, pg.PlotDataItem]:
    """A shown plot with one curve of ``n`` points, filled to 0 when ``fill``."""
    w = pg.PlotWidget()
    w.resize(1400, 300)
    kw = {"fillLevel": 0.0, "brush": pg.mkBrush(*BRUSH)} if fill else {}
    curve = w.plot(*frame_scores(n), pen=pg.mkPen(PEN, width=1.5), **kw)
    w.show()
    return w, curve


def soak(args: argparse.Namespace) -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    w, curve = make_plot(args.points, not args.no_fill)
    start = none_refs()
    print(json.dumps({"versions": versions(), "points": args.points, "fill": not args.no_fill,
                      "none_refs": start}), flush=True)
    app.processEvents()  # the first paint
    t_end = float(curve.xData[-1])
    rng = np.random.default_rng(1)
    frames, lost, t0, next_report = 0, 0, time.monotonic(), 0.25
    while time.monotonic() - t0 < args.seconds:
        # zoom between the whole recording and 10 s, panned anywhere: what an annotator does
        span = float(np.exp(rng.uniform(np.log(10.0), np.log(t_end))))
        x0 = float(rng.uniform(0.0, max(t_end - span, 0.0)))
        w.setXRange(x0, x0 + span, padding=0.0)
        app.processEvents()
        before = none_refs()
        w.repaint()
        lost += before - none_refs()
        frames += 1
        if time.monotonic() - t0 >= next_report:
            print(json.dumps({"t": round(time.monotonic() - t0, 1), "frames": frames,
                              "none_refs": none_refs(),
                              "fill_paths": len(curve.curve._fillPathList or [])}), flush=True)
            next_report += 0.25
    w.close()
    w.deleteLater()
    app.processEvents()
    app.quit()
    print(json.dumps({"survived_s": round(time.monotonic() - t0, 1), "frames": frames,
                      "none_refs_start": start, "none_refs_end": none_refs(),
                      "none_refs_lost_per_frame": round(lost / max(frames, 1), 1)}), flush=True)
    return 0


def attribute(args: argparse.Namespace) -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    w, curve = make_plot(args.points, not args.no_fill)
    app.processEvents()
    item = curve.curve  # the PlotCurveItem inside the PlotDataItem
    img = QtGui.QImage(1400, 300, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    painter = QtGui.QPainter(img)
    item.paint(painter, None, None)  # build the cached paths first: measure painting only
    # exclusive attribution: the change since the previous trace event goes to the line that
    # ran in between. A binding that returns None without a new reference shows up after the
    # C call has returned (when the interpreter drops the result), so lines, not C calls.
    delta: collections.Counter[tuple[str, int]] = collections.Counter()
    runs: collections.Counter[tuple[str, int]] = collections.Counter()
    last: list = [None, 0]

    def trace(frame, event, _arg):
        now = sys.getrefcount(None)
        if last[0] is not None:
            delta[last[0]] += now - last[1]
        if event == "line":
            key = (frame.f_code.co_filename, frame.f_lineno)
            runs[key] += 1
            last[0] = key
        last[1] = sys.getrefcount(None)
        return trace

    before = none_refs()
    sys.settrace(trace)
    item.paint(painter, None, None)
    sys.settrace(None)
    after = none_refs()
    painter.end()
    rows = [{"line": f"{os.path.basename(f)}:{n}: {linecache.getline(f, n).strip()}",
             "runs": runs[(f, n)], "none_refs_change": delta[(f, n)]}
            for f, n in sorted(runs, key=lambda k: (delta[k], k)) if delta[(f, n)] or args.all]
    print(json.dumps({"versions": versions(), "points": args.points,
                      "paint_none_refs_change": after - before, "by_call": rows}, indent=1))
    w.close()
    return 0


def probe(_args: argparse.Namespace) -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    img = QtGui.QImage(200, 200, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    p = QtGui.QPainter(img)
    path = QtGui.QPainterPath()
    path.moveTo(0, 0)
    path.lineTo(100, 100)
    brush, pen, obj = QtGui.QBrush(QtGui.QColor(*BRUSH)), QtGui.QPen(QtGui.QColor(PEN)), QtCore.QObject()
    cases = {
        "QPainter.fillPath (void)": lambda: p.fillPath(path, brush),
        "QPainter.drawPath (void)": lambda: p.drawPath(path),
        "QPainter.setPen (void)": lambda: p.setPen(pen),
        "QPainterPath.lineTo (void)": lambda: path.lineTo(1, 1),
        "QObject.setObjectName (void)": lambda: obj.setObjectName("x"),
        "QPainter.isActive (bool)": p.isActive,
        "QPainter.pen (object)": p.pen,
    }
    out = {}
    n = 200
    for name, fn in cases.items():
        fn()
        r0 = none_refs()
        for _ in range(n):
            fn()
        out[name] = (none_refs() - r0) / n
    p.end()
    print(json.dumps({"versions": versions(), "none_refs_change_per_call": out}, indent=1))
    del app
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", nargs="?", choices=("soak", "attribute", "probe"), default="soak")
    ap.add_argument("--points", type=int, default=313_000, help="curve points (313k: 2 h at 23 ms)")
    ap.add_argument("--seconds", type=float, default=20.0, help="soak: how long to zoom and repaint")
    ap.add_argument("--no-fill", action="store_true", help="the same curve without its fill")
    ap.add_argument("--all", action="store_true", help="attribute: list lines that leak nothing too")
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return {"soak": soak, "attribute": attribute, "probe": probe}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
