"""The live monitor (issue 16): live scoring equals offline scoring with the same windows, events
open and close with hysteresis, every event is alerted once over a real MQTT broker and a
webhook that fails twice, the events folder opens as a dataset whose boxes lie on the events,
a device input (a fake stream, and PortAudio over ALSA's file plugin) reports its gaps, and
SIGTERM mid-event leaves the event saved.

Known answers: a recording of a synthetic machine with tones injected at known times and
frequencies, scored by PatchCore fitted on the same machine.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from brokers import mosquitto_broker
from machine_sounds import SR, machine_tone

from specview.live import LivePlan, Window, live_spans
from specview.liveevents import EventTracker
from specview.metrics import event_regions, flagged_regions
from specview.monitor import AudioRing, Recorder

#: (start s, duration s, frequency Hz) of the tones injected into the recordings.
EVENTS = [(8.0, 0.6, 3000.0), (20.0, 1.0, 6000.0), (33.0, 0.8, 1500.0), (46.0, 1.2, 9000.0)]


def with_tones(x: np.ndarray, events, level: float = 0.1) -> np.ndarray:
    x = x.copy()
    for at, dur, f in events:
        t = np.arange(int(dur * SR)) / SR
        env = np.minimum(1.0, np.minimum(t, dur - t) / 0.01)  # 10-ms fades
        i = int(at * SR)
        x[i:i + t.size] += (level * np.sin(2 * np.pi * f * t) * env).astype(np.float32)
    return x


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """PatchCore fitted on 10 five-second clips of the machine, saved."""
    import torch

    from specview import pipeline

    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("monitor")
    train = d / "train"
    train.mkdir()
    for i in range(10):
        sf.write(train / f"n{i:02d}.wav", machine_tone(5.0, seed=i), SR)
    model = pipeline.fit(train, method="patchcore", overrides={"coreset_ratio": "0.2"})
    path = d / "m.safetensors"
    model.save(path)
    return model, path, d


@pytest.fixture(scope="module")
def recording(fitted):
    _, _, d = fitted
    path = d / "rec.wav"
    sf.write(path, with_tones(machine_tone(60.0, seed=99), EVENTS), SR, subtype="FLOAT")
    return path


# -- a real MQTT broker -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with mosquitto_broker(tmp_path_factory.mktemp("broker")) as address:
        yield address


class Subscriber:
    """A paho subscriber to ``topic`` and its subtopics, keeping ``(topic, payload, time)``."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, dict, float]] = []
        self._ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"test-sub-{os.getpid()}-{topic}")
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload), time.time()))
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_connect = lambda c, *a: c.subscribe(f"{topic}/#", qos=1)
        self.client.connect(host, port)
        self.client.loop_start()
        assert self._ready.wait(10), "the subscription was not acknowledged"

    def of(self, topic: str) -> list[dict]:
        return [p for t, p, _ in self.messages if t == topic]

    def wait_for(self, n: int, topic: str, timeout: float) -> list[dict]:
        end = time.monotonic() + timeout
        while len(self.of(topic)) < n and time.monotonic() < end:
            time.sleep(0.05)
        return self.of(topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class FlakyHook(http.server.BaseHTTPRequestHandler):
    """Answers 500 to the first ``fail`` POSTs, 200 after; keeps every body received."""

    fail = 2
    bodies: list = []
    statuses: list = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        status = 500 if len(cls.statuses) < cls.fail else 200
        cls.statuses.append(status)
        cls.bodies.append((status, body, self.headers.get("Idempotency-Key")))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def matches(start: float, end: float, truth, tol: float = 0.5) -> bool:
    at, dur, _ = truth
    return abs(start - at) <= tol and abs(end - (at + dur)) <= tol


# -- events on synthetic maps (no model) ----------------------------------------------------------

def _tracker_map(n: int, bumps, rows: int = 16, noise: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(3)
    amap = rng.normal(0, noise, size=(rows, n)).astype(np.float32)
    for a, b, r0, r1, h in bumps:
        amap[r0:r1, a:b] += h
    return amap


def _track(amap, *, piece: int = 16, **kw) -> tuple[list, EventTracker]:
    freqs = np.linspace(100, 8000, amap.shape[0])
    tr = EventTracker(1.5, 0.0, freqs, 0.02, None, **kw)
    changes = []
    for a in range(0, amap.shape[1], piece):
        changes += tr.push([Window(a, amap[:, a:a + piece], None)])
    changes += tr.finish()
    return changes, tr


def test_events_open_at_once_and_close_after_the_hold():
    spf, n = 0.02, 1500
    amap = _tracker_map(n, [(200, 240, 3, 6, 3.0), (700, 730, 8, 12, 3.0),
                            (760, 780, 8, 12, 3.0), (1200, 1260, 1, 15, 3.0)])
    changes, _ = _track(amap, hold=1.0, release=1.0)
    opened = [e for k, e in changes if k == "open"]
    closed = [e for k, e in changes if k == "close"]
    # the second and third bumps are 0.6 s apart: one event with a hold of 1 s
    assert [e.id for e in opened] == [e.id for e in closed] == [1, 2, 3]
    freqs = np.linspace(100, 8000, 16)
    times = np.arange(n) * spf
    whole = event_regions(flagged_regions(amap, times, freqs, 1.5), None, times, freqs,
                          gap_s=1.0)
    assert len(whole) == 3
    for e, r in zip(closed, sorted(whole, key=lambda r: r.box.t0), strict=True):
        assert e.start == pytest.approx(r.box.t0, abs=1e-9)
        assert e.end == pytest.approx(r.box.t1, abs=1e-9)
        assert (e.f_low, e.f_high) == pytest.approx((r.box.f0, r.box.f1))
    # each opened in the piece holding its first cells
    for e, a in zip(opened, [200, 700, 1200], strict=True):
        assert a * spf <= e.detected_at <= (a + 16) * spf + 1e-9
    assert [k for k, e in changes if e.id == 2][-1] == "close"


def test_release_level_keeps_an_event_open_across_a_dip():
    # 2.8 s between two bursts at 1.3 (0.87 of the threshold 1.5, above the release 0.8)
    amap = _tracker_map(1200, [(200, 260, 4, 8, 3.0), (260, 400, 4, 8, 1.3),
                               (400, 460, 4, 8, 3.0)], noise=0.02)
    one, _ = _track(amap, hold=1.0, release=0.8)
    two, _ = _track(amap, hold=1.0, release=1.0)
    assert sum(k == "open" for k, _ in one) == 1
    assert sum(k == "open" for k, _ in two) == 2


def test_live_events_grow_down_to_the_floor_as_offline_regions_do():
    # a burst in rows 5-8 standing on a shoulder (1.0, under the threshold 1.5) over rows 1-12
    amap = _tracker_map(800, [(200, 260, 1, 13, 1.0), (200, 260, 5, 9, 2.0)])
    freqs = np.linspace(100, 8000, 16)
    times = np.arange(800) * 0.02
    for floor in (None, 0.7):
        changes, _ = _track(amap, hold=1.0, release=1.0, relative=0.2, floor=floor)
        (e,) = [e for k, e in changes if k == "close"]
        (r,) = event_regions(flagged_regions(amap, times, freqs, 1.5, relative=0.2, floor=floor),
                             None, times, freqs)
        assert (e.start, e.end, e.f_low, e.f_high) == pytest.approx(
            (r.box.t0, r.box.t1, r.box.f0, r.box.f1))
        rows = (1, 12) if floor else (5, 8)
        assert (e.f_low, e.f_high) == pytest.approx(
            ((freqs[rows[0] - 1] + freqs[rows[0]]) / 2, (freqs[rows[1]] + freqs[rows[1] + 1]) / 2))


def test_rate_limit_min_duration_and_cut():
    bumps = [(100 + 300 * k, 130 + 300 * k, 3, 6, 3.0) for k in range(4)]
    changes, tr = _track(_tracker_map(1400, bumps), max_per_hour=2)
    opened = [e for k, e in changes if k == "open"]
    assert [e.suppressed for e in opened] == [False, False, True, True] and tr.suppressed == 2
    # too short for min_seconds: no event; long enough: one
    changes, _ = _track(_tracker_map(600, [(100, 110, 3, 6, 3.0)]), min_seconds=0.5)
    assert not changes
    changes, _ = _track(_tracker_map(600, [(100, 150, 3, 6, 3.0)]), min_seconds=0.5)
    assert sum(k == "open" for k, _ in changes) == 1
    # an endless sound is cut every max_seconds
    changes, _ = _track(_tracker_map(1000, [(50, 1000, 3, 6, 3.0)]), max_seconds=5.0)
    closed = [e for k, e in changes if k == "close"]
    assert len(closed) == 4 and all(e.cut for e in closed[:3])
    assert all(e.duration <= 5.0 + 0.05 for e in closed)


def test_ring_buffer_and_rolling_recording_stay_bounded(tmp_path):
    ring = AudioRing(1.0, 100, 2)
    x = np.arange(1000, dtype=np.float32)[:, None].repeat(2, axis=1)
    for a in range(0, 1000, 37):
        ring.push(x[a:a + 37])
    first, got = ring.read(850, 950)
    assert first == 900 and np.array_equal(got[:, 0], np.arange(900, 950))
    ring.push(x[:250])  # more than it holds at once
    assert np.array_equal(ring.read(0, 10**6)[1][:, 1], np.arange(150, 250))
    from specview.livesources import Chunk

    rec = Recorder(tmp_path / "rec", max_mb=0.5, segment_seconds=2.0)
    sr = 16000
    for k in range(40):  # 20 s of 16-bit mono: 640 kB, over the 500 kB cap
        rec.write(Chunk(np.full((sr // 2, 1), 0.1, np.float32), sr, k / 2))
    rec.finish()
    files = sorted((tmp_path / "rec").glob("rec_*.wav"))
    assert sum(p.stat().st_size for p in files) <= 500_000
    assert len(files) >= 2 and sf.info(files[-1]).duration == pytest.approx(2.0)
    assert not [p for p in (tmp_path / "rec").iterdir() if p.name.startswith(".")]


# -- a fitted model ---------------------------------------------------------------------------

@pytest.mark.weights
def test_live_map_equals_offline_with_the_same_windows(fitted):
    from specview.audio import resample
    from specview.detectors.components import frame_scores
    from specview.live import LiveScorer, live_plan, score_offline
    from specview.spectrogram import compress, mel_power
    from specview.types import Audio

    model, _, _ = fitted
    x = with_tones(machine_tone(16.0, seed=7), [(6.0, 0.7, 4000.0)])
    plan = live_plan(model)
    assert plan == LivePlan(16, 40, 40)  # aisfx: 2-cell cores, 5 cells of context each side
    # 48 kHz stereo in (the mean of the channels, resampled as files are), odd block sizes
    x48 = resample(x, SR, 48000)
    stereo = np.stack([x48 * 0.5, x48 * 1.5], axis=1)
    live = LiveScorer(model, 48000, channel=None)
    wins, cols = [], []
    for a, b in zip(range(0, len(x48), 997), range(997, len(x48) + 997, 997), strict=True):
        w, c = live.push(stereo[a:b])
        wins += w
        cols += c
    w, c = live.finish()
    wins += w
    cols += c
    region = np.concatenate([w.region_map for w in wins], axis=1)
    focused = np.concatenate([c.map for c in cols], axis=1)
    ref_region, ref_focused = score_offline(model, Audio(resample(x48, 48000, SR), SR), plan)
    assert region.shape == ref_region.shape and focused.shape == ref_focused.shape
    # equal up to the float32 rounding of mel frames computed a few at a time (1e-7 of the
    # power), which PatchCore's distances between near-identical patches amplify: within 1 %
    # of the threshold's height above normal
    span = model.threshold_per_hour() - model.calibration.median
    assert np.abs(region - ref_region).max() / span < 1e-2
    assert np.abs(focused - ref_focused).max() / span < 1e-2
    assert [w.first for w in wins] == [s.valid_start for s in live_spans(region.shape[1], plan)]
    np.testing.assert_allclose(np.concatenate([c.frame_scores for c in cols]),
                               frame_scores(ref_focused), atol=1e-2 * span)
    # and, with 5 cells each side, equal to the whole-file map away from the ends
    audio = Audio(resample(x48, 48000, SR), SR)
    fe = model.encoder.front_end
    whole = model.score_spectrogram(compress(mel_power(audio, fe), fe)).extras["region_map"]
    inner = slice(int(1.0 / live.spf), -int(1.0 / live.spf))
    assert np.abs(region[:, inner] - whole[:, inner]).max() / span < 1e-2


@pytest.mark.weights
def test_replay_alerts_each_event_once_over_mqtt_and_a_flaky_webhook(fitted, recording, broker,
                                                                      tmp_path):
    from specview.alerts import MqttSink, WebhookSink
    from specview.datasets import load_dataset
    from specview.livesources import FileSource
    from specview.monitor import Monitor

    model, model_path, _ = fitted
    host, port = broker
    sub = Subscriber(host, port, "plant/fan")
    FlakyHook.statuses, FlakyHook.bodies = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    lines: list[str] = []
    sinks = [MqttSink(host, port, "plant/fan", log=lines.append),
             WebhookSink(f"http://127.0.0.1:{server.server_address[1]}/hook",
                         first_backoff=0.05, log=lines.append)]
    out = tmp_path / "events"
    seen: dict[str, int] = {}
    try:
        monitor = Monitor(model, out, model_name=str(model_path), input_name=str(recording),
                          sinks=sinks, log=lines.append)
        monitor.subscribe(lambda kind, item: seen.__setitem__(kind, seen.get(kind, 0) + 1))
        summary = monitor.run(FileSource(recording, speed=0))
        assert all(s.close(timeout=15) for s in sinks)
        opens = sub.wait_for(summary.alerts, "plant/fan", 10)
        closes = sub.wait_for(summary.events, "plant/fan/closed", 10)
    finally:
        sub.close()
        server.shutdown()
        server.server_close()
    # every event alerted once on opening, with its time and band, and recorded once on closing
    assert summary.alerts == summary.events == len(opens) == len(closes)
    for truth in EVENTS:
        at, dur, f = truth
        hits = [p for p in opens if matches(p["start"], p["start"] + dur, truth)]
        assert len(hits) == 1, (truth, opens)
        assert hits[0]["f_low"] <= f <= hits[0]["f_high"]
        final = [p for p in closes if p["event"] == hits[0]["event"]]
        assert len(final) == 1 and matches(final[0]["start"], final[0]["end"], truth)
        assert final[0]["f_low"] <= f <= final[0]["f_high"] and final[0]["peak"] > 1
    # the normal 55 s: no more alerts than the calibrated rate allows (36 per hour: 0.55)
    extra = [p for p in opens if not any(matches(p["start"], p["start"] + t[1], t)
                                         for t in EVENTS)]
    assert len(extra) <= 1
    payload = opens[0]
    assert {"start", "end", "f_low", "f_high", "peak", "clip", "model", "input"} <= set(payload)
    assert payload["model"] == str(model_path) and payload["input"] == str(recording)
    assert payload["state"] == "open" and not payload["clip_saved"]
    # the webhook failed twice, then got each message once (the retries are the same message)
    assert FlakyHook.statuses[:2] == [500, 500]
    delivered = [(b["event"], b["state"]) for s, b, _ in FlakyHook.bodies if s == 200]
    assert sorted(delivered) == sorted({(p["event"], "open") for p in opens}
                                       | {(p["event"], "closed") for p in closes})
    assert len(FlakyHook.bodies) == len(delivered) + 2
    assert FlakyHook.bodies[0][2] == FlakyHook.bodies[2][2]  # same idempotency key
    assert seen["columns"] > 0 and seen["event"] >= 3 * len(opens)
    # the folder opens as a dataset: one clip per event, its sidecar box on the event
    ds = load_dataset(out)
    log = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert len(ds.test) == len(log) == summary.events
    by_clip = {out / rec["clip"]: rec for rec in log}
    for clip in ds.test:
        rec = by_clip[clip.path]
        [box] = clip.boxes()
        assert box.t0 + rec["clip_start"] == pytest.approx(rec["start"], abs=2e-3)
        assert box.t1 + rec["clip_start"] == pytest.approx(rec["end"], abs=2e-3)
        assert box.label == "flagged" and clip.label is None
        info = sf.info(clip.path)
        assert info.samplerate == SR and info.duration == pytest.approx(
            rec["end"] - rec["start"] + 10.0, abs=0.05)  # 5 s of pre- and post-roll
        # the clip holds the input's samples
        x, _ = sf.read(recording, dtype="float32")
        y, _ = sf.read(clip.path, dtype="float32")
        i = int(round(rec["clip_start"] * SR))
        assert np.array_equal(y, x[i:i + len(y)])
        assert Path(rec["clip"]).name == Path(
            next(p for p in opens if p["event"] == rec["event"])["clip"]).name


@pytest.mark.weights
def test_cli_replay_at_speed_4_then_sigterm_mid_event(fitted, broker, tmp_path):
    model, model_path, d = fitted
    host, port = broker
    events = [(3.0, 0.6, 3000.0), (8.0, 1.0, 6000.0), (13.0, 8.0, 1500.0)]
    rec = tmp_path / "incident.wav"
    sf.write(rec, with_tones(machine_tone(22.0, seed=42), events), SR, subtype="FLOAT")
    out = tmp_path / "ev"
    sub = Subscriber(host, port, "plant/pump")
    cli = Path(sys.executable).with_name("specview-cli")
    cmd = [str(cli), "monitor", "--model", str(model_path), "--input", str(rec), "--speed", "4",
           "--out", str(out), "--mqtt", f"{host}:{port}", "--topic", "plant/pump"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        opens = sub.wait_for(3, "plant/pump", 60)
        assert len(opens) == 3, proc.stderr.read() if proc.poll() is not None else opens
        proc.send_signal(signal.SIGTERM)  # the third event is sounding (13-21 s of input)
        stdout, stderr = proc.communicate(timeout=60)
        closes = sub.wait_for(3, "plant/pump/closed", 10)
    finally:
        if proc.poll() is None:
            proc.kill()
        sub.close()
    assert proc.returncode == 0, stderr
    assert "SIGTERM" in stderr and "stopped by a signal" in stdout
    for truth, p in zip(events, opens, strict=True):
        assert abs(p["start"] - truth[0]) <= 0.5
    for truth, p in zip(events[:2], closes[:2], strict=True):
        assert matches(p["start"], p["end"], truth)
    # the replay was paced at 4x: the run took at least a quarter of the audio it read (a
    # lower bound, which a loaded machine only makes easier to meet; alert receipt times are
    # not used, since a delayed first alert would shorten their spacing)
    audio_s, wall_s = map(float, re.search(r"([\d.]+) s of audio in ([\d.]+) s", stdout).groups())
    assert audio_s > 13.0 and wall_s >= audio_s / 4 * 0.95
    # the event open at the signal was closed and saved, cut where the input stopped
    log = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert [r["event"] for r in log] == [1, 2, 3]
    last = log[-1]
    assert abs(last["start"] - 13.0) <= 0.5 and 13.0 < last["end"] < 21.5
    assert (out / last["clip"]).is_file() and (out / last["sidecar"]).is_file()
    assert closes[2]["event"] == 3 and closes[2]["end"] == last["end"]


# -- device input ---------------------------------------------------------------------------------

class FakeStatus:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


class FakeTime:
    def __init__(self, adc: float) -> None:
        self.inputBufferAdcTime = adc


class FakeDevice:
    """Stands in for PortAudio: ``factory(**kwargs)`` makes streams whose thread calls the
    callback with the next blocks of ``x`` (a world that goes on: ADC times are positions in
    ``x``). At block ``overflow_at`` it skips ``lost`` samples and flags an input overflow; at
    block ``vanish_at`` the stream stops (inactive) and the next ``fail_opens`` opens fail."""

    def __init__(self, x: np.ndarray, *, overflow_at: int, lost: int, vanish_at: int,
                 fail_opens: int = 1, pace: float = 0.002) -> None:
        self.x, self.pos, self.block_i = x, 0, 0
        self.overflow_at, self.lost, self.vanish_at = overflow_at, lost, vanish_at
        self.fail_opens, self.pace, self.opens = fail_opens, pace, 0
        self.kwargs: dict = {}

    def __call__(self, **kwargs):
        self.kwargs = kwargs
        self.opens += 1
        if self.opens > 1 and self.fail_opens > 0:
            self.fail_opens -= 1
            raise OSError("PortAudio error: device unavailable")
        return _FakeStream(self, kwargs)


class _FakeStream:
    def __init__(self, dev: FakeDevice, kw: dict) -> None:
        self.dev, self.cb, self.n = dev, kw["callback"], kw["blocksize"]
        self.sr, self.active, self._halt = kw["samplerate"], False, threading.Event()

    def start(self) -> None:
        self.active = True
        threading.Thread(target=self._feed, daemon=True).start()

    def _feed(self) -> None:
        d = self.dev
        while not self._halt.is_set():
            if d.pos + self.n > len(d.x):  # the end of the world: open, silent
                time.sleep(0.01)
                continue
            d.block_i += 1
            over = d.block_i == d.overflow_at
            if over:
                d.pos += d.lost
            if d.block_i == d.vanish_at:
                self.active = False
                return
            block = d.x[d.pos:d.pos + self.n]
            self.cb(block, self.n, FakeTime(100.0 + d.pos / self.sr), FakeStatus(over))
            d.pos += self.n
            time.sleep(d.pace)

    def stop(self) -> None:
        self._halt.set()

    def close(self) -> None:
        self._halt.set()


@pytest.mark.weights
def test_device_input_reports_overflows_and_reopens(fitted, tmp_path):
    from specview.livesources import DeviceSource
    from specview.monitor import Monitor

    model, _, _ = fitted
    x = with_tones(machine_tone(24.0, seed=5), [(6.0, 0.8, 3000.0)])
    stereo = np.stack([x, x], axis=1)
    dev = FakeDevice(stereo, overflow_at=200, lost=4410, vanish_at=300)  # 10 s, 15 s
    lines: list[str] = []
    src = DeviceSource("fake", samplerate=SR, channels=2, stream_factory=dev,
                       stall_seconds=0.3, log=lines.append)
    monitor = Monitor(model, tmp_path / "ev", input_name="fake", log=lines.append)
    statuses = []
    monitor.subscribe(lambda k, i: statuses.append(i) if k == "status" else None)
    done = threading.Event()

    def stop_when_fed() -> None:
        # everything fed and taken (a chunk taken is scored before the source is asked again)
        while (dev.pos + src.block <= len(x) or not src._q.empty()) and not done.wait(0.02):
            pass
        src.stop.set()

    threading.Thread(target=stop_when_fed, daemon=True).start()
    try:
        summary = monitor.run(src)
    finally:
        done.set()
    assert dev.kwargs["channels"] == 2 and dev.kwargs["samplerate"] == SR
    assert dev.opens == 3 and src.reopens == 1 and src.overflows == 1
    gaps = [s for s in statuses if "gap" in s]
    assert len(gaps) == 2 and summary.segments == 3
    # the overflow's gap measured from the ADC times: the 0.1 s lost
    assert gaps[0]["gap"] == pytest.approx(0.1, abs=1e-6) and gaps[0]["why"] == "input overflow"
    assert gaps[1]["why"] == "device lost and reopened" and gaps[1]["gap"] > 0.2
    assert any("gap of 0.100 s" in line for line in lines)
    assert any("reopened" in line for line in lines)
    # the event before the gaps, at its input time; the audio after them scored too
    log = [json.loads(line) for line in (tmp_path / "ev" / "events.jsonl").read_text()
           .splitlines()]
    assert [abs(r["start"] - 6.0) <= 0.5 for r in log] == [True]
    assert summary.audio_seconds == pytest.approx((dev.pos - 4410) / SR, abs=0.2)


def test_portaudio_capture_from_an_alsa_file_device(tmp_path):
    """A real PortAudio input stream (ALSA's ``file`` plugin reading a raw file as a capture
    device), in a subprocess so that PortAudio reads the ALSA configuration made here."""
    pytest.importorskip("sounddevice")
    if not os.path.exists("/usr/share/alsa/alsa.conf"):
        pytest.skip("no ALSA configuration (/usr/share/alsa/alsa.conf): not an ALSA system")
    x = (0.3 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR) * 32767).astype("<i2")
    raw = tmp_path / "in.raw"
    x.tofile(raw)
    conf = tmp_path / "asound.conf"
    conf.write_text(f"""</usr/share/alsa/alsa.conf>
pcm.specview_file {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{raw}"
    format "raw"
}}
pcm.specview_in {{
    type plug
    slave {{ pcm "specview_file" format S16_LE rate {SR} channels 1 }}
}}
""")
    script = f"""
import json, sys, numpy as np, sounddevice as sd
from specview.livesources import DeviceSource
names = [d["name"] for d in sd.query_devices()]
if "specview_in" not in names:
    print(json.dumps({{"skip": "PortAudio lists no specview_in: " + repr(names)}})); sys.exit()
src = DeviceSource("specview_in", samplerate={SR}, channels=1, queue_seconds=5)
got, gaps = [], []
for c in src:
    if c.gap:
        gaps.append([c.gap, c.why])
        break
    got.append(c.samples[:, 0])
src.stop.set()
print(json.dumps({{"n": int(sum(map(len, got))), "gaps": gaps, "name": src.name,
                   "first": np.concatenate(got)[:{3 * SR}].tolist()}}))
"""
    env = dict(os.environ, ALSA_CONFIG_PATH=str(conf))
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    if "skip" in res:
        pytest.skip(res["skip"])
    # the device delivers the file's samples exactly; ALSA's null device has no clock, so
    # capture runs far faster than the monitor reads: the queue overflows and the drop is a gap
    first = np.asarray(res["first"], np.float32)
    assert len(first) >= SR and np.array_equal(first, x[:len(first)] / np.float32(32768))
    assert res["gaps"] and res["gaps"][0][0] > 0 and "queue full" in res["gaps"][0][1]
