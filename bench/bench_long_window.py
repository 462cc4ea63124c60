"""Opening a long recording in the window (issue 14): time to the title, to the first overview
picture and to the full overview, the longest stall of the GUI thread while paging, and the
process's peak memory.

Two ways in, each in a fresh process (offscreen Qt):

* ``results``: the store ``specview score`` wrote (``OUT/long/<stem>.zarr``) is opened; its
  overview is read from the store;
* ``audio``: the recording alone (no model): the window shows the sketch (short excerpts at
  evenly spaced times) at once and then streams the full overview.

The window is left idle for 4 s first (as a user opens a file a moment after the window). Once
the first overview picture is up, the benchmark pages through the recording (PageDown and N/P
every 0.3 s) and a 5-ms timer measures the longest gap between its ticks: a stall of the GUI
thread.

    python bench/bench_long_window.py RECORDING [--store OUT/long/STEM.zarr] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(path: str, mode: str, wait_s: float) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import tempfile

    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from specview.gui.main_window import MainWindow

    ini = Path(tempfile.mkdtemp()) / "bench.ini"
    win = MainWindow(settings=QSettings(str(ini), QSettings.Format.IniFormat))
    win.resize(1280, 720)
    win.show()
    settle = time.monotonic() + 4.0  # as a user would: the window is up a moment before
    while time.monotonic() < settle:
        app.processEvents()
        time.sleep(0.005)
    out: dict = {"mode": mode}
    clock = QElapsedTimer()
    clock.start()
    win.open_path(path)
    out["title_s"] = clock.elapsed() / 1000.0 if Path(path).stem in win.windowTitle() else None
    ticks = {"last": clock.elapsed(), "gap": 0.0}

    stalls: list[tuple[float, float]] = []

    def tick() -> None:
        now = clock.elapsed()
        gap = now - ticks["last"]
        ticks["gap"] = max(ticks["gap"], gap)
        if gap > 50:
            stalls.append((now / 1000.0, float(gap)))
        ticks["last"] = now

    beat = QTimer()
    beat.timeout.connect(tick)
    beat.start(5)
    st = win.state
    keys = [0]

    def page() -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        k = (Qt.Key.Key_PageDown, Qt.Key.Key_N, Qt.Key.Key_P)[keys[0] % 3]
        keys[0] += 1
        QTest.keyClick(win, k)

    pager = QTimer()
    pager.timeout.connect(page)
    end = time.monotonic() + wait_s
    started = False
    while time.monotonic() < end:
        app.processEvents()
        rec = st.long
        if out.get("title_s") is None and Path(path).stem in win.windowTitle():
            out["title_s"] = clock.elapsed() / 1000.0
        if rec is not None and "first_picture_s" not in out and (rec.sketched or rec.power_cols):
            out["first_picture_s"] = clock.elapsed() / 1000.0
            pager.start(300)
            started = True
        if rec is not None and rec.power_cols >= rec.n_cols and "overview_s" not in out:
            out["overview_s"] = clock.elapsed() / 1000.0
            out["duration_h"] = rec.duration / 3600.0
            if started:
                end = min(end, time.monotonic() + 3.0)  # page a little longer, then stop
        time.sleep(0.002)
    out["max_gui_gap_ms"] = ticks["gap"]
    out["stalls"] = stalls[:20]
    out["pages"] = keys[0]
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    beat.stop()
    pager.stop()
    win.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recording", nargs="?")
    ap.add_argument("--store", default=None, help="the store specview score wrote for it")
    ap.add_argument("--seconds", type=float, default=90.0, help="longest wait per opening")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.seconds)))
        return 0
    runs = []
    if args.store:
        runs.append((args.store, "results"))
    if args.recording:
        runs.append((args.recording, "audio"))
    print("| opened | recording | title s | first picture s | full overview s | longest GUI "
          "stall ms (pages) | peak memory |")
    print("|---|---|---|---|---|---|---|")
    for path, mode in runs:
        p = subprocess.run([sys.executable, __file__, "--child", path, mode, "--seconds",
                            str(args.seconds)], capture_output=True, text=True)
        if p.returncode != 0:
            print(p.stderr[-3000:], file=sys.stderr)
            return 1
        r = json.loads(p.stdout.strip().splitlines()[-1])

        def f(k, fmt="{:.2f}", r=r):
            return fmt.format(r[k]) if r.get(k) is not None else "-"

        print(f"| {mode} | {f('duration_h', '{:.1f} h')} | {f('title_s', '{:.3f}')} | "
              f"{f('first_picture_s')} | {f('overview_s')} | {f('max_gui_gap_ms', '{:.0f}')} "
              f"({r['pages']}) | {f('peak_rss_gib')} GiB |", flush=True)
        if os.environ.get("BENCH_VERBOSE"):
            print("stalls over 50 ms (s, ms):", r["stalls"], file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
