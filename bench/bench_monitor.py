"""The live monitor (issue 16): CPU seconds per second of audio at 44.1 kHz, and the latency from
an event's onset in the input to its MQTT alert being received, over replays with known events.

The default model (PatchCore on aisfx, fitted on the demo fan by this version of specview:
``measure_live_margins.demo_model``) monitors a recording of the demo fan (5-s renders joined
by 0.5-s crossfades, as ``bench_long`` makes them) with tone and noise bursts injected at known times (flat, with
10-ms fades). A real mosquitto broker is started on a loopback port and a paho subscriber
records when each alert arrives.

- **CPU**: the monitor in this process replays the recording as fast as it goes (``--speed
  0``); CPU seconds (``time.process_time``, every thread of the process) per second of audio.
- **Latency**: the recording replayed in real time (``--speed 1``); for each injected event, the
  time its alert reached the subscriber minus the wall time its onset was handed to the
  monitor (the replay's start plus the onset's input time). p50 / p95 / max.
- Events: alerted once each (no duplicates), alert and final times against the truth, and the
  alerts on the normal parts (away from the renders' joins and against the calibrated rate).
  The renders' joins are crossfades of two speeds and gains, which no training clip holds;
  alerts within 0.5 s of one are counted apart, and an event that opened within the hold time
  of a flagged join is one event with it (counted as merged, outside the latency).
- ``--soak-minutes N``: N minutes of the fan replayed at full speed, resident memory sampled
  every 30 s of audio; growth after the first fifth.
- ``--real MACHINE`` (engine, mining, power): real material instead of the fan, with no render
  joins: the default model fitted on that realdata machine's ``train/`` clips, and a continuous
  stretch of the machine's background stream from the part no training clip was cut from, with
  its real events mixed in at known times at +6 and 0 dB (``bench/monitor_real.py``), replayed
  at ``--speed`` (default 4) through the monitor to the broker; events alerted once,
  duplicated or missed, onset and end errors against the truth (+-0.5 s), and the alerts on
  the normal parts against the calibrated rate.

    python bench/bench_monitor.py [--seconds 120] [--threads 1] [--soak-minutes 30]
    python bench/bench_monitor.py --real engine [--seconds 240] [--speed 4]
                                  [--disjoint-calibration]

  realdata's format 1 cut its training clips at random offsets, so about half the audio of
  the held-out calibration clips was also in fitted clips and scored lower than new audio;
  ``--disjoint-calibration`` holds out clips that share no stream sample with the fitted ones
  (and leaves out the fitted clips that would), for an unbiased threshold. Format 2's clips
  share no sample, and the option then only changes which clips are held out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_long import FADE_S  # noqa: E402
from measure_live_margins import demo_model  # noqa: E402

SR = 44100
#: Seconds of one render of the fan: the training clips' length (longer renders drift further
#: than any training clip: 10-s renders drew 4 flags in 138 s of normal sound away from their
#: joins, against 1.4 calibrated).
SEGMENT_S = 5.0


def _renders(n: int, seed: int):
    from specview.demo import _G_UNIT, _background, _clip_rng
    from specview.demo_cache import DEMO_MACHINE, DEMO_SEED
    from specview.demo_machines import MACHINES

    spec = MACHINES[DEMO_MACHINE]
    unit = spec.draw_unit(_clip_rng(DEMO_SEED, DEMO_MACHINE, _G_UNIT, 0))
    length = int((SEGMENT_S + FADE_S) * SR)
    for i in range(n):
        yield _background(spec, unit, np.random.default_rng([seed, i]), length,
                          SR).astype(np.float32)


def fan(seconds: float, seed: int = 21) -> np.ndarray:
    n_seg = int(np.ceil(seconds / SEGMENT_S)) + 1
    fade = int(FADE_S * SR)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
    parts, tail = [], None
    for x in _renders(n_seg, seed):
        body = x[: len(x) - fade].copy()
        if tail is not None:
            body[:fade] = np.sqrt(ramp) * body[:fade] + np.sqrt(1 - ramp) * tail
        parts.append(body)
        tail = x[len(x) - fade:]
    return np.concatenate(parts)[: int(seconds * SR)].astype(np.float32)


def with_events(x: np.ndarray, every: float = 7.3) -> tuple[np.ndarray, list[tuple]]:
    """Bursts about every ``every`` s from 7 s on, 1.4 s or more from the renders' joins (a
    join can be flagged, and an event within the hold time of it merges with it)."""
    x = x.copy()
    rng = np.random.default_rng(3)
    events = []
    at = 7.0
    k = 0
    while at < len(x) / SR - 4:
        off = at % SEGMENT_S
        if not 2.0 <= off <= 2.4:  # clear of the crossfades (k * 5 s to k * 5 + 0.5 s)
            at += (SEGMENT_S - off if off > 2.4 else -off) + 2.0 + rng.uniform(0, 0.4)
            continue
        dur = (0.3, 0.6, 0.9)[k % 3]
        t = np.arange(int(dur * SR)) / SR
        env = np.minimum(1.0, np.minimum(t, dur - t) / 0.01)
        if k % 2 == 0:
            f = float((1500, 3000, 6000, 9000)[k // 2 % 4])
            burst = 0.08 * np.sin(2 * np.pi * f * t)
        else:
            f = float("nan")
            burst = 0.06 * rng.standard_normal(t.size)
        i = int(at * SR)
        x[i:i + t.size] += (burst * env).astype(np.float32)
        events.append((at, dur, f))
        at += every
        k += 1
    return x, events


def near_join(t0: float, t1: float, margin: float = 0.5) -> bool:
    k0 = int((t0 - FADE_S - margin) // SEGMENT_S)
    for k in range(max(1, k0), int((t1 + margin) // SEGMENT_S) + 2):
        if k * SEGMENT_S - margin <= t1 and k * SEGMENT_S + FADE_S + margin >= t0:
            return True
    return False


class Broker:
    def __init__(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(exe):
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.dir = tempfile.mkdtemp()
        conf = Path(self.dir) / "m.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.got: list[tuple[str, dict, float]] = []
        ready = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}")
        self.c.on_message = lambda c, u, m: self.got.append(
            (m.topic, json.loads(m.payload), time.time()))
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_connect = lambda c, *a: c.subscribe(f"{topic}/#", qos=1)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        ready.wait(10)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def run(model, model_path, rec: Path, out: Path, speed: float, port: int | None,
        topic: str = "bench/fan"):
    from specview.alerts import MqttSink
    from specview.livesources import FileSource
    from specview.monitor import Monitor

    sub = Subscriber(port, topic) if port else None
    sinks = [MqttSink("127.0.0.1", port, topic)] if port else []
    src = FileSource(rec, speed=speed)
    shutil.rmtree(out, ignore_errors=True)
    mon = Monitor(model, out, model_name=str(model_path), input_name=str(rec), sinks=sinks)
    summary = mon.run(src)
    for s in sinks:
        s.close(10)
    time.sleep(0.3)
    if sub:
        sub.close()
    return summary, src, (sub.got if sub else [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="recording length (default 120)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--model", type=Path, default=None, help="default: the demo model")
    ap.add_argument("--soak-minutes", type=float, default=0.0)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/specview-bench-monitor"))
    ap.add_argument("--real", metavar="MACHINE", default=None,
                    help="a realdata machine (engine, mining, power) instead of the fan")
    ap.add_argument("--speed", type=float, default=4.0, help="--real replay speed (default 4)")
    ap.add_argument("--every", type=float, default=12.0,
                    help="--real: seconds from one event's end to the next's onset (default 12)")
    ap.add_argument("--cache", type=Path, default=Path("~/.cache/specview/realdata"),
                    help="--real: realdata's cache")
    ap.add_argument("--disjoint-calibration", action="store_true",
                    help="--real: hold out calibration clips that share no stream sample with "
                    "the fitted ones (realdata's training clips overlap)")
    args = ap.parse_args()
    if args.real:
        return main_real(args)
    import torch

    from specview import pipeline
    from specview.live import live_plan

    torch.set_num_threads(args.threads)
    model_path = args.model or demo_model(args.folder)
    model = pipeline.load_model(model_path)
    plan = live_plan(model)
    core, left, right = plan.seconds(model.encoder.front_end)
    rate = model.calibration.flags_per_hour(model.block_seconds)
    print(f"model {model_path}: {model.method} on {model.encoder.name}; live windows: core "
          f"{core:.3f} s, context {left:.3f} s before and {right:.3f} s after; threshold for "
          f"{rate:.0f} false flags per hour; torch threads {args.threads}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    args.folder.mkdir(parents=True, exist_ok=True)
    x, events = with_events(fan(args.seconds))
    rec = args.folder / "fan-events.wav"
    sf.write(rec, x, SR, subtype="FLOAT")
    broker = Broker()
    try:
        s_fast, _, _ = run(model, model_path, rec, args.folder / "out-fast", 0.0, None)
        print(f"CPU, replayed at full speed: {s_fast.cpu_per_second:.3f} s per s of audio "
              f"({s_fast.audio_seconds:.0f} s of audio in {s_fast.wall_seconds:.1f} s wall, "
              f"{s_fast.audio_seconds / s_fast.wall_seconds:.1f}x real time; "
              f"{s_fast.windows} windows)")
        summary, src, got = run(model, model_path, rec, args.folder / "out-rt", 1.0,
                                broker.port)
    finally:
        broker.close()
    opens = [(p, t) for topic, p, t in got if topic == "bench/fan"]
    closes = [p for topic, p, _ in got if topic == "bench/fan/closed"]
    print(f"real time: CPU {summary.cpu_per_second:.3f} s per s of audio; the replay fell "
          f"behind by at most {src.late:.2f} s")
    lat, found, start_err, end_err = [], 0, [], []
    used = set()
    for at, dur, _f in events:
        hit = [(p, t) for p, t in opens if abs(p["start"] - at) <= 0.5 and p["event"] not in used]
        if not hit:
            continue
        p, t = min(hit, key=lambda h: abs(h[0]["start"] - at))
        used.add(p["event"])
        found += 1
        lat.append(t - (src.started + at))
        start_err.append(p["start"] - at)
        fin = [c for c in closes if c["event"] == p["event"]]
        if fin:
            end_err.append(fin[0]["end"] - (at + dur))
    merged = [e for e in events if not any(abs(p["start"] - e[0]) <= 0.5 for p, _ in opens)
              and any(c["start"] <= e[0] <= c["end"] for c in closes)]
    dupes = len(opens) - len({p["event"] for p, _ in opens})
    extra = [p for p, _ in opens if p["event"] not in used]
    extra_away = [p for p in extra if not near_join(p["start"], p["end"])]
    normal_s = args.seconds - sum(d for _, d, _ in events)
    lat = np.array(lat)
    print(f"events: {len(events)} injected, {found} alerted within 0.5 s of their onset, "
          f"{len(merged)} inside an event opened earlier, {dupes} duplicate alerts; alert start - truth: median {np.median(start_err):+.3f} "
          f"s, max |{np.abs(start_err).max():.3f}| s; final end - truth: median "
          f"{np.median(end_err):+.3f} s, max |{np.abs(end_err).max():.3f}| s")
    print(f"latency onset -> MQTT received: p50 {np.percentile(lat, 50):.3f} s, p95 "
          f"{np.percentile(lat, 95):.3f} s, max {lat.max():.3f} s (n={lat.size})")
    print(f"alerts on the normal parts: {len(extra)} ({len(extra_away)} away from the renders' "
          f"joins) in {normal_s:.0f} s; the calibrated rate allows "
          f"{rate * normal_s / 3600:.2f}")
    if args.soak_minutes:
        soak(model, model_path, args.folder, args.soak_minutes)
    return 0


def main_real(args) -> int:
    import monitor_real as mr
    import torch

    from specview import pipeline

    torch.set_num_threads(args.threads)
    cache = args.cache.expanduser()
    seconds = 240.0 if args.seconds == 120.0 else args.seconds
    args.folder.mkdir(parents=True, exist_ok=True)
    tag = "-disjoint" if args.disjoint_calibration else ""
    model_path = args.model or args.folder / f"{args.real}-patchcore-aisfx{tag}.safetensors"
    if not model_path.is_file():
        t = time.perf_counter()
        train = cache / args.real / "train"
        files = mr.disjoint_training_files(train) if tag else cache / args.real
        pipeline.fit(files, method="patchcore").save(model_path)
        print(f"fitted on {train} in {time.perf_counter() - t:.0f} s")
    model = pipeline.load_model(model_path)
    rate = model.calibration.flags_per_hour(model.block_seconds)
    x, sr, truth, t_stream = mr.replay_recording(cache, args.real, seconds, every=args.every)
    rec = args.folder / f"{args.real}-events.wav"
    mr.write_recording(rec, x, sr, truth)
    print(f"model {model_path}: {model.method} on {model.encoder.name}, threshold for "
          f"{rate:.1f} false flags per hour ({model.info['n_train_clips']} clips fitted, "
          f"{model.info['n_calibration_clips']} held out{' sharing no audio with them' * bool(tag)}"
          f"); replay {rec}: {seconds:.0f} s of {args.real}'s "
          f"background stream from {t_stream:.1f} s (its training clips came from before "
          f"{t_stream - mr.LEAD_S:.0f} s), {len(truth)} real events at "
          f"{sorted({e.level_db for e in truth})} dB; speed {args.speed:g}; torch threads "
          f"{args.threads}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    topic = f"bench/{args.real}"
    broker = Broker()
    try:
        summary, src, got = run(model, model_path, rec, args.folder / f"out-{args.real}",
                                args.speed, broker.port, topic)
    finally:
        broker.close()
    opens = [p for t, p, _ in got if t == topic]
    closes = [p for t, p, _ in got if t == f"{topic}/closed"]
    print(f"monitor: CPU {summary.cpu_per_second:.3f} s per s of audio, the replay fell behind "
          f"by at most {src.late:.2f} s; {len(opens)} alerts, {len(closes)} closed records")
    s = mr.score_alerts(truth, opens, closes, seconds, rate)
    print("\n".join(mr.report(s)))
    return 0


def soak(model, model_path, folder: Path, minutes: float) -> None:
    from specview.livesources import FileSource
    from specview.monitor import Monitor, _rss_mb

    rec = folder / "fan-soak.wav"
    seconds = minutes * 60
    with sf.SoundFile(str(rec), "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        done = 0.0
        seed = 100
        while done < seconds:  # 10-minute pieces, each with its bursts
            piece, _ = with_events(fan(min(600.0, seconds - done), seed=seed), every=37.0)
            f.write(piece)
            done += len(piece) / SR
            seed += 1
    samples: list[tuple[float, float]] = []
    mon = Monitor(model, folder / "out-soak", model_name=str(model_path))
    mon.subscribe(lambda kind, item: None)
    src = FileSource(rec, speed=0)
    last = [0.0]

    def sample_rss(kind, item) -> None:
        t = mon.summary.seconds
        if t - last[0] >= 30.0:
            last[0] = t
            samples.append((t, _rss_mb()))

    mon.subscribe(sample_rss)
    shutil.rmtree(folder / "out-soak", ignore_errors=True)
    s = mon.run(src)
    rss = np.array([r for _, r in samples])
    warm = rss[len(rss) // 5:]
    print(f"soak: {s.audio_seconds / 60:.0f} min of audio in {s.wall_seconds:.0f} s "
          f"(CPU {s.cpu_per_second:.3f} s per s), {s.events} events saved; resident memory "
          f"after warm-up {warm[0]:.0f} MB -> {warm[-1]:.0f} MB (max {warm.max():.0f}), growth "
          f"{100 * (warm[-1] / warm[0] - 1):+.1f} %")
    rec.unlink()


if __name__ == "__main__":
    raise SystemExit(main())
