"""The Live window (issue 16): latency from a scored live window to its first pixel on screen,
the GUI thread's share of the work, and memory over a long replay.

The default model (PatchCore on aisfx fitted on the demo fan: ``measure_live_margins.demo_model``)
monitors the demo fan with bursts injected at known times (``bench_monitor.fan`` /
``with_events``), replayed through :class:`specview.gui.live_window.LiveWindow` exactly as
*Live ▸ Monitor…* runs it (the monitor in its own thread, the view in the GUI thread).

- **Latency**: for each piece of map columns, the time its heatmap was painted minus the time
  the monitor gave the piece out, right after scoring the window that holds it
  (:attr:`LiveView.latencies`); p50 / p95 / max over the run at ``--speed`` (1: real time).
- **Memory**: ``--soak-minutes N`` replays N minutes at full speed; resident memory sampled every
  30 s of input, growth after the first fifth (the view's rings are fixed: flat).
- ``--shot PNG``: the window grabbed (``QWidget.grab``) 1.5 s after the first burst's event
  opens once the view is full (the README's screenshot).

    python bench/bench_live_window.py [--seconds 60] [--speed 1] [--soak-minutes 10]
        [--shot resources/screens/live-view.png]

Runs on Qt's offscreen platform unless ``QT_QPA_PLATFORM`` says otherwise (``xcb`` under Xvfb).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench_monitor import SR, fan, with_events  # noqa: E402
from measure_live_margins import demo_model  # noqa: E402


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def replay(app, win, rec: Path, out: Path, model_path: Path, speed: float, *,
           shot: Path | None = None, events=(), sample_every: float = 0.0):
    """Run one replay in ``win``; returns (summary, [(input s, rss MB)])."""
    from specview.gui.live_session import LiveInput

    shutil.rmtree(out, ignore_errors=True)
    done: list = []
    samples: list[tuple[float, float]] = []
    win.session.ended.connect(done.append)
    shot_at = [None]

    def on_event(change, ev, _clip) -> None:
        if shot is not None and change == "open" and shot_at[0] is None \
                and ev.start >= win.view.seconds and any(
                    abs(ev.start - at) < 0.5 for at, _d, _f in events):
            shot_at[0] = time.monotonic() + 1.5 / max(speed, 1.0)

    win.session.event_changed.connect(on_event)
    win.start(LiveInput(path=rec, speed=speed), out, model_path=model_path)
    next_sample = sample_every
    while not done:
        app.processEvents()
        time.sleep(0.002)
        ring = win.view.ring
        if sample_every and ring is not None and ring.t_end is not None \
                and ring.t_end >= next_sample:
            samples.append((ring.t_end, rss_mb()))
            next_sample += sample_every
        if shot_at[0] is not None and time.monotonic() >= shot_at[0]:
            shot.parent.mkdir(parents=True, exist_ok=True)
            win.grab().save(str(shot))
            print(f"screenshot: {shot}")
            shot_at[0] = float("inf")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.005)
    win.session.ended.disconnect(done.append)
    win.session.event_changed.disconnect(on_event)
    return done[0], samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="recording length (default 60)")
    ap.add_argument("--speed", type=float, default=1.0, help="replay speed (default 1: real time)")
    ap.add_argument("--model", type=Path, default=None, help="default: the demo model")
    ap.add_argument("--soak-minutes", type=float, default=0.0)
    ap.add_argument("--shot", type=Path, default=None)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/specview-bench-live-window"))
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    from specview.gui.live_window import LiveWindow

    app = QApplication([])
    model_path = args.model or demo_model()
    args.folder.mkdir(parents=True, exist_ok=True)
    rec = args.folder / "fan-events.wav"
    x, events = with_events(fan(args.seconds))
    sf.write(rec, x, SR, subtype="FLOAT")
    win = LiveWindow()
    win.resize(1280, 720)
    win.show()
    summary, _ = replay(app, win, rec, args.folder / "events", model_path, args.speed,
                        shot=args.shot, events=events)
    if isinstance(summary, BaseException):
        raise summary
    lat = np.array(win.view.latencies)
    found = {ev["event"].id: ev["event"] for ev in win.events.values()}
    hit = sum(any(abs(e.start - at) <= 0.5 for e in found.values()) for at, _d, _f in events)
    print(f"platform {app.platformName()}; {args.seconds:g} s of the demo fan with "
          f"{len(events)} bursts replayed at {args.speed:g}x in {summary.wall_seconds:.1f} s: "
          f"{summary.events} event(s), {hit}/{len(events)} bursts listed within 0.5 s")
    print(f"scored window -> first pixel on screen: {len(lat)} column pieces, "
          f"p50 {np.percentile(lat, 50):.3f} s, p95 {np.percentile(lat, 95):.3f} s, "
          f"max {lat.max():.3f} s (target <= 0.5 s)")
    worst = np.argsort(lat)[::-1][:5]
    print("worst pieces (index: latency s): " + ", ".join(f"{i}: {lat[i]:.3f}" for i in worst))
    print(f"CPU {summary.cpu_per_second:.3f} s per s of audio (monitor thread and window "
          f"together)")
    if args.soak_minutes:
        rec2 = args.folder / "soak.wav"
        x2, _ = with_events(fan(args.soak_minutes * 60.0, seed=5), every=37.0)
        sf.write(rec2, x2, SR, subtype="FLOAT")
        del x2
        s2, samples = replay(app, win, rec2, args.folder / "soak-events", model_path, 0.0,
                             sample_every=30.0)
        mb = np.array([m for _t, m in samples])
        warm = mb[len(mb) // 5:]
        print(f"soak: {args.soak_minutes:g} min at full speed in {s2.wall_seconds:.0f} s, "
              f"{s2.events} event(s); resident memory {warm[0]:.0f} MB after warm-up, "
              f"{warm.max():.0f} MB at most, {mb[-1]:.0f} MB at the end: growth "
              f"{100 * (warm.max() / warm[0] - 1):.2f} % (target <= 5 %)")
    win.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
