"""Opening a long recording in the window (issue 14): time to the title, to the first overview
picture and to the full overview, the longest stall of the GUI thread while paging, and the
process's peak memory.

Two ways in, each in a fresh process (offscreen Qt):

* ``results``: the store ``specview score`` wrote (``OUT/long/<stem>.zarr``) is opened; its
  overview is read from the store;
* ``audio``: the recording alone (no model): the window shows the sketch (short excerpts at
  evenly spaced times) at once and then streams the full overview.

The window is left idle for 4 s first (as a user opens a file a moment after the window). Once
the first overview picture is up, the benchmark pages, scrolls and zooms through the recording
every 0.3 s (PageDown, N, P, the detail view zoomed in and out and panned, the strip's region
dragged, a click on the strip) and a 5-ms timer measures the longest gap between its ticks: a
stall of the GUI thread (each stall over 50 ms is listed with the action before it).

    python bench/bench_long_window.py RECORDING [--store OUT/long/STEM.zarr] [--seconds 60]
    python bench/bench_long_window.py --synthetic 24 [--folder DIR]

``--synthetic HOURS`` makes a sparse RF64 recording of that length and a made-up scored store
of a real result's size for it (``bench/long_synthetic.py``, a few minutes for 24 h) and opens
both.
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


def _watch(clock, ticks, out: dict, names: dict) -> None:
    """BENCH_PROFILE=1: a thread samples the GUI thread's stack every 10 ms while the
    heartbeat is over 30 ms late, and counts the innermost specview/pyqtgraph frames seen."""
    import collections
    import threading
    import traceback

    main = threading.main_thread().ident
    seen: collections.Counter = collections.Counter()
    out["profile"] = seen

    def run() -> None:
        while True:
            time.sleep(0.01)
            if clock.elapsed() - ticks["last"] > 30:
                frame = sys._current_frames().get(main)
                if frame is None:
                    continue
                stack = traceback.extract_stack(frame)
                ours = [f for f in stack if "specview" in f.filename or "pyqtgraph" in f.filename]
                key = " < ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}"
                                 for f in reversed(ours[-4:]))
                f, item = frame, ""
                while f is not None:  # which of the window's items is drawn
                    obj = f.f_locals.get("self")
                    if id(obj) in names:
                        item = names[id(obj)] + ": "
                        break
                    f = f.f_back
                seen[item + key] += 1

    threading.Thread(target=run, daemon=True).start()


def _gc_log(clock) -> list:
    """The garbage collector's passes over 20 ms: (time s, generation, ms, thread): a full
    pass over the heap holds the GIL for its whole length, whichever thread runs it."""
    import gc
    import threading

    passes: list = []
    began: dict = {}

    def cb(phase: str, info: dict) -> None:
        me = threading.get_ident()
        if phase == "start":
            began[me] = time.perf_counter()
        elif me in began:
            ms = (time.perf_counter() - began.pop(me)) * 1000.0
            if ms > 20:
                name = "gui" if me == threading.main_thread().ident else "worker"
                passes.append((clock.elapsed() / 1000.0, info["generation"], round(ms), name))

    gc.callbacks.append(cb)
    return passes


def child(path: str, mode: str, wait_s: float, page_s: float = 3.0) -> dict:
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

    stalls: list[tuple[float, float, str]] = []
    last_action = ["open"]

    cpu_last = [time.thread_time(), time.process_time()]

    def tick() -> None:
        now, cpu, proc = clock.elapsed(), time.thread_time(), time.process_time()
        gap = now - ticks["last"]
        ticks["gap"] = max(ticks["gap"], gap)
        used = (cpu - cpu_last[0]) * 1000.0  # the GUI thread's own CPU time in the gap
        others = (proc - cpu_last[1]) * 1000.0 - used  # the process's other threads'
        if gap > 50:
            stalls.append((now / 1000.0, float(gap), last_action[0], round(used, 1),
                           round(others, 1)))
        ticks["last"], cpu_last[0], cpu_last[1] = now, cpu, proc

    beat = QTimer()
    beat.timeout.connect(tick)
    beat.start(5)
    gcs = _gc_log(clock)
    if os.environ.get("BENCH_PROFILE"):
        names = {id(getattr(o, a)): f"{label}.{a}" for label, o in
                 (("strip", win.overview), ("view", win.view))
                 for a in ("image", "curve", "marks", "spec_item", "heat_item") if hasattr(o, a)}
        _watch(clock, ticks, out, names)
    st = win.state
    keys = [0]

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    def key(k):
        return lambda: QTest.keyClick(win, k)

    def zoom(f):
        return lambda: win.view.vb.scaleBy(x=f, y=1.0)

    def pan(frac):
        def go():
            a, b = win.view.visible_time_range()
            win.view.vb.translateBy(x=frac * (b - a))
        return go

    def drag() -> None:  # the strip's region moved by a tenth of the recording
        rec = st.long
        region = win.overview.regions[0]
        a, b = region.getRegion()
        a = (a + rec.duration / 10) % max(1.0, rec.duration - (b - a))
        region.setRegion((a, a + (b - a)))
        region.sigRegionChangeFinished.emit(region)

    def click() -> None:
        win.overview.jump_requested.emit(st.long.duration * (0.37 * keys[0] % 1.0))

    actions = [("PageDown", key(Qt.Key.Key_PageDown)), ("N", key(Qt.Key.Key_N)),
               ("P", key(Qt.Key.Key_P)), ("zoom in", zoom(0.5)), ("pan", pan(0.3)),
               ("zoom out", zoom(2.0)), ("drag region", drag), ("click strip", click)]

    def page() -> None:
        name, act = actions[keys[0] % len(actions)]
        keys[0] += 1
        last_action[0] = name
        act()

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
                end = min(end, time.monotonic() + page_s)  # page a while longer, then stop
        time.sleep(0.002)
    out["max_gui_gap_ms"] = ticks["gap"]
    out["stalls"] = stalls[:200]
    out["gc_over_20ms"] = gcs[:100]
    out["pages"] = keys[0]
    if "profile" in out:
        out["profile"] = out["profile"].most_common(25)
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
    ap.add_argument("--page-seconds", type=float, default=3.0,
                    help="how long paging goes on once the full overview is up")
    ap.add_argument("--synthetic", type=float, default=None, metavar="HOURS",
                    help="make a sparse recording and a made-up store of this length first")
    ap.add_argument("--folder", default=None, help="where --synthetic writes (default: a "
                    "temporary folder, removed after)")
    ap.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.seconds, args.page_seconds)))
        return 0
    runs = []
    if args.synthetic:
        import tempfile

        sys.path.insert(0, str(Path(__file__).parent))
        from long_synthetic import sparse_recording, synthetic_store

        folder = Path(args.folder or tempfile.mkdtemp(prefix="bench_long_window"))
        folder.mkdir(parents=True, exist_ok=True)
        rec = folder / f"synthetic-{args.synthetic:g}h.wav"
        store = folder / "long" / f"{rec.stem}.zarr"
        if not (rec.exists() and (store / "zarr.json").exists()):
            t = time.perf_counter()
            sparse_recording(rec, args.synthetic)
            synthetic_store(rec, store)
            print(f"made {rec} and its store in {time.perf_counter() - t:.0f} s",
                  file=sys.stderr)
        args.recording, args.store = str(rec), str(store)
    if args.store:
        runs.append((args.store, "results"))
    if args.recording:
        runs.append((args.recording, "audio"))
    print("| opened | recording | title s | first picture s | full overview s | longest GUI "
          "stall ms (pages) | peak memory |")
    print("|---|---|---|---|---|---|---|")
    for path, mode in runs:
        p = subprocess.run([sys.executable, __file__, "--child", path, mode, "--seconds",
                            str(args.seconds), "--page-seconds", str(args.page_seconds)],
                           capture_output=True, text=True)
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
            worst = sorted(r["stalls"], key=lambda x: -x[3])[:8]
            print("stalls with the most GUI-thread CPU (s, wall ms, after, GUI CPU ms, "
                  "other threads' CPU ms):", worst, file=sys.stderr)
            print("garbage-collector passes over 20 ms (s, generation, ms, thread):",
                  r.get("gc_over_20ms"), file=sys.stderr)
        for where, n in r.get("profile", []):
            print(f"  {n * 10:6d} ms  {where}", file=sys.stderr)
        paging = [(g, c) for _t, g, a, c, _o in r["stalls"] if a != "open"]
        print(f"  {mode}: after the first picture (paging, scrolling, zooming): longest stall "
              f"{max((g for g, _c in paging), default=0):.0f} ms wall, the GUI thread's CPU "
              f"time in a stall at most {max((c for _g, c in paging), default=0):.0f} ms; "
              f"{len(paging)} stalls over 50 ms", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
