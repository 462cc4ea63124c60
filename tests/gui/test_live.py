"""The Live window (issue 16): a recording with a known injected event replayed through the same
monitor as ``specview monitor`` shows the event in the list at its time, the heatmap's peak
column at that time in the scrolling view, a notice (and a beep when asked); clicking the saved
event opens its clip and Raven box in the main window; stopping ends the monitor's thread; a
device input (a fake PortAudio stream) lists its event too; a run that cannot start says why;
the view's rings keep their length however long the input.

Known answer: a synthetic machine (tests/machine_sounds.py) with a 3 kHz tone at 12.0-12.8 s,
scored by PatchCore fitted on the same machine.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from brokers import mosquitto_broker
from machine_sounds import SR, machine_tone
from PySide6.QtCore import Qt

from specview.gui.live_session import LiveInput
from specview.gui.live_window import LiveWindow
from specview.monitor import MonitorSettings

TONE = (12.0, 0.8, 3000.0)  # start s, duration s, Hz
DURATION = 20.0
TIMEOUT = 180_000  # ms: two cores shared with other work


class RecordingPlayer:
    """Stands in for :class:`specview.playback.Player`: keeps what it was asked to play."""

    def __init__(self) -> None:
        self.played: list[tuple[np.ndarray, int]] = []

    def play(self, samples, sr, **_kw) -> None:
        self.played.append((np.asarray(samples), int(sr)))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def live_model(tmp_path_factory):
    """PatchCore fitted on ten 5-s clips of the machine, saved."""
    from specview import pipeline

    d = tmp_path_factory.mktemp("live")
    (d / "train").mkdir()
    for i in range(10):
        sf.write(d / "train" / f"n{i:02d}.wav", machine_tone(5.0, seed=i), SR)
    model = pipeline.fit(d / "train", method="patchcore", overrides={"coreset_ratio": "0.2"})
    path = d / "m.safetensors"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def incident(live_model):
    """20 s of the machine with the tone of :data:`TONE` (10-ms fades)."""
    at, dur, f = TONE
    x = machine_tone(DURATION, seed=99)
    t = np.arange(int(dur * SR)) / SR
    env = np.minimum(1.0, np.minimum(t, dur - t) / 0.01)
    i = int(at * SR)
    x[i:i + t.size] += (0.1 * np.sin(2 * np.pi * f * t) * env).astype(np.float32)
    path = live_model.parent / "incident.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    return path


def settings() -> MonitorSettings:
    return MonitorSettings(pre_roll=1.0, post_roll=1.0)


def replay(qtbot, live, model, rec, out, speed):
    with qtbot.waitSignal(live.session.ended, timeout=TIMEOUT) as ended:
        live.start(LiveInput(path=rec, speed=speed), out, model_path=model, settings=settings())
    qtbot.wait(50)  # the last queued column pieces and event changes
    live.view.add_columns(live.session.drain())
    return ended.args[0]


def the_event(live):
    """The listed event that covers the tone's onset."""
    at, dur, f = TONE
    hits = [r["event"] for r in live.events.values()
            if abs(r["event"].start - at) <= 0.5 and r["event"].f_low <= f <= r["event"].f_high]
    assert len(hits) == 1, {i: r["event"] for i, r in live.events.items()}
    return hits[0]


def test_replay_lists_the_event_at_its_time_and_the_heatmap_peaks_there(qtbot, window,
                                                                         live_model, incident,
                                                                         tmp_path):
    player = RecordingPlayer()
    live = LiveWindow(window, player=player)
    qtbot.addWidget(live)
    live.show()
    live.beep_check.setChecked(True)
    summary = replay(qtbot, live, live_model, incident, tmp_path / "events", speed=8)
    assert not isinstance(summary, BaseException), summary
    assert summary.events == len(live.events) >= 1
    ev = the_event(live)
    at, dur, f = TONE
    assert abs(ev.start - at) <= 0.5 and abs(ev.end - (at + dur)) <= 1.5
    assert ev.peak == max(r["event"].peak for r in live.events.values()) > 1
    # in the list, with its time and state, in the order events opened
    row = live.event_ids().index(ev.id)
    assert live.event_ids() == sorted(live.event_ids())
    assert float(live.table.item(row, 1).text()) == pytest.approx(ev.start, abs=0.006)
    assert live.table.item(row, 5).text() == "saved"
    # the scrolling view: its heatmap's hottest column is drawn at the event's time and band
    img = live.view.heat_item.image
    assert img.shape == (live.view.ring.n_rows, live.view.ring.cap)
    row_i, col = np.unravel_index(int(np.argmax(img)), img.shape)
    assert at - 0.5 <= live.view.column_time(col) <= at + dur + 0.5
    assert ev.f_low <= live.view.row_hz(row_i) <= ev.f_high
    # the view ends where the input ended, and its marks include the event
    assert live.view.ring.t_end == pytest.approx(DURATION, abs=1.0)
    assert ev.id in live.view.marked_events
    # a notice was shown and one beep per event opened
    assert live.notice.isVisible() and f"Event {max(live.events)}" in live.notice.text()
    assert len(player.played) == len(live.events) and player.played[0][1] == 44100
    assert live.view.latencies, "no column reached the screen"


def test_clicking_a_saved_event_opens_its_clip_and_box_in_the_main_window(qtbot, window,
                                                                          live_model, incident,
                                                                          tmp_path):
    out = tmp_path / "events"
    live = LiveWindow(window)
    qtbot.addWidget(live)
    live.show()
    replay(qtbot, live, live_model, incident, out, speed=0)
    ev = the_event(live)
    clip = live.events[ev.id]["clip"]
    assert clip.is_file() and clip.parent == out / "test"
    row = live.event_ids().index(ev.id)
    rect = live.table.visualItemRect(live.table.item(row, 0))
    qtbot.mouseClick(live.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    st = window.state
    qtbot.waitUntil(lambda: st.clip_path == clip, timeout=TIMEOUT)
    # the events folder is the dataset (the other events a click away), the box the sidecar's
    assert st.dataset is not None and st.dataset.root == out
    assert len(st.dataset.test) == len(live.events)
    [box] = st.boxes
    rec = next(r for r in window.controller.state.dataset.test if r.path == clip)
    assert box.label == "flagged" and box.f0 <= TONE[2] <= box.f1
    clip_start = ev.start - box.t0
    assert box.t1 + clip_start == pytest.approx(ev.end, abs=2e-3)
    assert 0.9 <= box.t0 <= 1.1  # one second of pre-roll
    assert rec.boxes_path is not None and rec.boxes_path.is_file()
    # the run's model is loaded in the main window and the clip scored with it, its flagged
    # box selected: Play box (band-limited with "Only the box's band") plays the event
    qtbot.waitUntil(lambda: st.model_path == live_model and st.result is not None
                    and st.clip_path == clip, timeout=TIMEOUT)
    assert st.selected == 0
    lp = window.listen_panel
    lp.band.setChecked(True)
    lp.source.setCurrentText("anomaly only (model)")
    opts = window.listener.request("selection")
    assert (opts["start"], opts["end"]) == (box.t0, box.t1)
    assert opts["band"] == (box.f0, box.f1) and opts["mask"] == "anomaly"
    # a click on the event's box in the view opens it as well
    window.controller.open_clip(incident)
    qtbot.waitUntil(lambda: st.clip_path == incident, timeout=TIMEOUT)
    qtbot.mouseClick(live.view.glw.viewport(), Qt.MouseButton.LeftButton,
                     pos=live.view.event_point(ev.id))
    qtbot.waitUntil(lambda: st.clip_path == clip, timeout=TIMEOUT)


def test_stop_ends_the_monitor_thread_and_saves_the_open_event(qtbot, window, live_model,
                                                               incident, tmp_path):
    live = LiveWindow(window)
    qtbot.addWidget(live)
    live.show()
    live.start(LiveInput(path=incident, speed=2), tmp_path / "events", model_path=live_model,
               settings=settings())
    # wait until the tone's event is open, then stop in the middle of it
    qtbot.waitUntil(lambda: any(r["event"].f_low <= TONE[2] <= r["event"].f_high
                                and r["event"].state == "open" for r in live.events.values()),
                    timeout=TIMEOUT)
    with qtbot.waitSignal(live.session.ended, timeout=TIMEOUT) as ended:
        qtbot.mouseClick(live.stop_button, Qt.MouseButton.LeftButton)
    summary = ended.args[0]
    assert summary.stopped and summary.audio_seconds < DURATION
    assert live.session.wait(10)
    assert not any(t.name == "specview-live" for t in threading.enumerate())
    qtbot.wait(50)
    ev = the_event(live)
    assert live.events[ev.id]["saved"] and live.events[ev.id]["clip"].is_file()
    assert not live.stop_button.isEnabled() and "stopped" in live.source_label.text()


def test_closing_the_window_mid_run_stops_the_thread(qtbot, window, live_model, incident,
                                                     tmp_path):
    live = LiveWindow(window)
    qtbot.addWidget(live)
    live.show()
    live.start(LiveInput(path=incident, speed=1), tmp_path / "events", model_path=live_model,
               settings=settings())
    qtbot.waitUntil(lambda: live.view.ring is not None, timeout=TIMEOUT)
    thread = live.session.thread
    live.close()
    assert not thread.is_alive()
    assert live.session.summary is not None and live.session.summary.stopped


class FakeInputStream:
    """Stands in for ``sounddevice.InputStream``: a thread calls the callback with blocks of a
    recording, paced at ``speed`` times real time."""

    def __init__(self, samples: np.ndarray, speed: float, *, blocksize, callback, **_kw):
        self.samples, self.speed, self.block, self.callback = samples, speed, blocksize, callback
        self.active = False
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-input", daemon=True)

    def _run(self) -> None:
        for a in range(0, len(self.samples) - self.block + 1, self.block):
            if self._halt.wait(self.block / SR / self.speed):
                return
            self.callback(self.samples[a:a + self.block, None], self.block, None, None)
        self._halt.wait()  # a device goes on; the source's stall check would reopen it

    def start(self) -> None:
        self.active = True
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        self._thread.join(5)
        self.active = False

    def close(self) -> None:
        self.stop()


def test_a_device_input_lists_its_event(qtbot, window, live_model, incident, tmp_path):
    """The device path of the window (DeviceSource, its queue and time stamps) with a fake
    PortAudio stream delivering the recording at 8x."""
    x, _ = sf.read(incident, dtype="float32")
    streams = []

    def factory(**kw):
        streams.append(FakeInputStream(x, 8.0, **kw))
        return streams[-1]

    live = LiveWindow(window)
    qtbot.addWidget(live)
    live.show()
    live.start(LiveInput(device="fake", samplerate=SR, channels=1, stream_factory=factory),
               tmp_path / "events", model_path=live_model, settings=settings())
    qtbot.waitUntil(lambda: any(abs(r["event"].start - TONE[0]) <= 0.5 and r["saved"]
                                for r in live.events.values()), timeout=TIMEOUT)
    with qtbot.waitSignal(live.session.ended, timeout=TIMEOUT) as ended:
        live.stop()
    summary = ended.args[0]
    assert summary.stopped and summary.gaps == 0 and summary.audio_seconds < DURATION
    assert "stopped" in live.source_label.text()
    ev = the_event(live)
    assert ev.f_low <= TONE[2] <= ev.f_high
    # the stream was opened once (it never stalled) and is closed
    assert len(streams) == 1 and not streams[0].active


def test_a_run_that_cannot_start_is_reported(qtbot, window, incident, tmp_path):
    live = LiveWindow(window)
    qtbot.addWidget(live)
    with qtbot.waitSignal(live.session.ended, timeout=TIMEOUT) as ended:
        live.start(LiveInput(path=incident), tmp_path / "events",
                   model_path=tmp_path / "missing.safetensors")
    assert isinstance(ended.args[0], Exception)
    assert live.session.wait(10) and window.last_error[0] == "Live monitoring failed"
    assert "failed" in live.source_label.text() and not live.stop_button.isEnabled()


def _columns(t0, first, n, freqs, spf, value=0.0):
    from specview.live import Columns

    m = np.full((len(freqs), n), value, np.float32)
    return Columns(first, t0, spf, freqs, m, m.max(axis=0), m, np.ones_like(m), 2.0, 1.0)


def test_the_view_keeps_fixed_rings_and_places_columns_after_a_gap(qtbot):
    from specview.gui.live_view import LiveView
    from specview.liveevents import LiveEvent

    view = LiveView(seconds=2.0)
    qtbot.addWidget(view)
    view.show()
    freqs = np.linspace(100.0, 8000.0, 16)
    spf = 0.02
    view.add_columns([(_columns(0.0, 0, 10, freqs, spf), 0.0)])
    ring = view.ring
    arrays = (ring.spec, ring.heat, ring.score)
    assert ring.cap == 100
    for k in range(1, 200):  # 40 s of input through a 2-s view
        view.add_columns([(_columns(0.0, 10 * k, 10, freqs, spf), 0.0)])
        if k == 5:
            view.show_event(LiveEvent(1, 0.5, 0.8, 500.0, 900.0, 2.0, 3.0, 4, state="closed"))
    assert (ring.spec, ring.heat, ring.score) == arrays and ring.spec.shape == (16, 100)
    assert view.heat_item.image.shape == (16, 100)
    assert ring.t_end == pytest.approx(2000 * spf)
    assert view.marked_events == []  # scrolled off and removed
    assert len(view.latencies) <= view.latencies.maxlen
    # a gap of 0.5 s (a new segment starts later): blank columns, the next piece at its time
    view.add_columns([(_columns(40.5, 0, 10, freqs, spf, value=3.0), 0.0)])
    img = view.heat_item.image
    hot = np.flatnonzero(img.max(axis=0) > 1.5)
    assert len(hot) == 10 and hot[-1] == 99
    assert view.column_time(hot[0]) == pytest.approx(40.5, abs=1e-6)
    assert view.column_time(hot[-1]) == pytest.approx(40.5 + 9 * spf, abs=1e-6)
    blank = img[:, hot[0] - 25:hot[0]]
    assert np.all(blank == 0) and np.all(np.isnan(ring.ordered()[2][hot[0] - 25:hot[0]]))
    assert ring.gaps == 1


def test_live_menu_and_dialog_choices(qtbot, window, live_model, incident, tmp_path):
    from specview.gui.live_dialog import LiveDialog

    assert window.menu_actions["live_monitor"].text() == "&Monitor…"
    dlg = LiveDialog(model_path=live_model, recording=incident, out=tmp_path / "ev")
    qtbot.addWidget(dlg)
    dlg.speed.setValue(4.0)
    assert dlg.problem() == "" and dlg.file_radio.isChecked()
    model, inp, out = dlg.choice()
    assert (model, inp.path, inp.speed, out) == (live_model, incident, 4.0, tmp_path / "ev")
    st = dlg.settings()
    assert (st.per_hour, st.pre_roll, st.post_roll) == (None, 5.0, 5.0)  # the CLI's defaults
    dlg.per_hour.setValue(2.0)
    dlg.post_roll.setValue(1.5)
    st = dlg.settings()
    assert (st.per_hour, st.pre_roll, st.post_roll) == (2.0, 5.0, 1.5)
    dlg.model_edit.setText(str(tmp_path / "missing.safetensors"))
    assert "model" in dlg.problem()


def test_the_event_list_keeps_the_last_events(qtbot, monkeypatch, tmp_path):
    from specview.gui import live_window
    from specview.liveevents import LiveEvent

    monkeypatch.setattr(live_window, "MAX_ROWS", 3)
    live = LiveWindow()
    qtbot.addWidget(live)
    for i in range(1, 8):
        ev = LiveEvent(i, 2.0 * i, 2.0 * i + 0.5, 500.0, 900.0, 2.0, 3.0, 4)
        live._on_event("open", ev, str(tmp_path / f"e{i}.wav"))
        live._on_event("saved", LiveEvent(i, 2.0 * i, 2.0 * i + 0.6, 500.0, 900.0, 2.5, 3.0, 4,
                                          state="closed"), str(tmp_path / f"e{i}.wav"))
    assert live.event_ids() == [5, 6, 7] and sorted(live.events) == [5, 6, 7]
    assert [live.table.item(r, 2).text() for r in range(3)] == ["10.60", "12.60", "14.60"]
    assert all(live.table.item(r, 5).text() == "saved" for r in range(3))
    assert live.inspect(7) == tmp_path / "e7.wav"  # no main window: the clip's path
    assert live.inspect(2) is None  # gone from the list


def _fill_replay(dlg, model: Path, recording: Path, out: Path) -> None:
    """The Live dialog filled in as a user would for a replay as fast as it scores."""
    dlg.model_edit.setText(str(model))
    dlg.file_radio.setChecked(True)
    dlg.file_edit.setText(str(recording))
    dlg.speed.setValue(0.0)
    dlg.out_edit.setText(str(out))
    dlg.pre_roll.setValue(1.0)
    dlg.post_roll.setValue(1.0)


def test_the_menu_opens_the_live_window_on_the_dialog_choice(qtbot, window, live_model,
                                                              incident, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QDialog

    from specview.gui import live_dialog

    out = tmp_path / "events"

    def accept(dlg) -> QDialog.DialogCode:  # the user fills the dialog in and clicks Start
        _fill_replay(dlg, live_model, incident, out)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(live_dialog.LiveDialog, "exec", accept)
    window.menu_actions["live_monitor"].trigger()
    live = window.live_window
    qtbot.addWidget(live)
    assert live.isVisible() and live.out == out and live.model_path == live_model
    qtbot.waitUntil(lambda: live.session.summary is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not live.stop_button.isEnabled())  # the end reached the window
    assert live.session.summary.events >= 1 and (out / "events.jsonl").is_file()
    ev = the_event(live)
    clip = sf.info(live.events[ev.id]["clip"])
    assert clip.duration == pytest.approx(ev.end - ev.start + 2.0, abs=0.05)  # 1 s + 1 s
    # the main window closing closes the Live window and its thread
    window.close()
    assert not live.session.running


def test_the_dialog_checks_and_remembers_where_alerts_go(qtbot, settings, live_model, incident,
                                                         tmp_path):
    from specview.gui.live_dialog import LiveDialog

    dlg = LiveDialog(model_path=live_model, recording=incident, out=tmp_path / "ev",
                     settings=settings)
    qtbot.addWidget(dlg)
    assert dlg.problem() == "" and dlg.alerts() == (None, None) and dlg.sinks() == []
    for broker, topic, url, why in (
        ("localhost:1883", "", "", "both the broker"),
        ("", "plant/fan", "", "both the broker"),
        ("localhost:port", "plant/fan", "", "MQTT broker 'localhost:port'"),
        ("localhost:70000", "plant/fan", "", "MQTT broker 'localhost:70000'"),
        (":1883", "plant/fan", "", "MQTT broker ':1883'"),
        ("localhost:1883", "plant/#", "", "MQTT topic 'plant/#'"),
        ("", "", "ftp://host/x", "Webhook 'ftp://host/x'"),
        ("", "", "http://", "Webhook 'http://'"),
        ("", "", "http://host:99999/x", "Webhook 'http://host:99999/x'"),
        ("", "", "localhost:8080/alerts", "Webhook 'localhost:8080/alerts'"),
    ):
        dlg.mqtt_edit.setText(broker)
        dlg.topic_edit.setText(topic)
        dlg.webhook_edit.setText(url)
        assert why in dlg.problem(), (broker, topic, url, dlg.problem())
        dlg._accept()  # Start refuses, says why, keeps the dialog open
        assert why in dlg.error.text() and dlg.result() == 0
    dlg.mqtt_edit.setText(" [::1]:1884 ")
    dlg.topic_edit.setText("plant/fan")
    dlg.webhook_edit.setText("https://alerts.example:8443/in")
    dlg.speed.setValue(4.0)
    assert dlg.problem() == ""
    assert dlg.alerts() == (("::1", 1884, "plant/fan"), "https://alerts.example:8443/in")
    dlg._accept()
    assert dlg.result() == 1
    # a new dialog on the same settings starts from those choices (the events folder too)
    again = LiveDialog(model_path=live_model, recording=incident, settings=settings)
    qtbot.addWidget(again)
    assert (again.mqtt_edit.text(), again.topic_edit.text(), again.webhook_edit.text(),
            again.speed.value(), again.out_edit.text()) == (
        "[::1]:1884", "plant/fan", "https://alerts.example:8443/in", 4.0, str(tmp_path / "ev"))
    # without settings, nothing is remembered
    plain = LiveDialog(model_path=live_model, recording=incident)
    qtbot.addWidget(plain)
    assert plain.mqtt_edit.text() == "" and plain.speed.value() == 1.0


@pytest.fixture
def mosquitto(tmp_path):
    """A mosquitto broker on a free loopback port: ``(port, received)``, ``received`` the
    ``(topic, payload)`` a subscriber to ``test/#`` got; skipped where it is not installed."""
    import json
    import os

    paho = pytest.importorskip("paho.mqtt.client")
    with mosquitto_broker(tmp_path) as (_host, port):
        got: list[tuple[str, dict]] = []
        ready = threading.Event()
        c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-live-{os.getpid()}")
        c.on_message = lambda cl, u, m: got.append((m.topic, json.loads(m.payload)))
        c.on_subscribe = lambda *a: ready.set()
        c.on_connect = lambda cl, *a: cl.subscribe("test/#", qos=1)
        c.connect("127.0.0.1", port)
        c.loop_start()
        assert ready.wait(10), "the subscriber did not subscribe"
        yield port, got
        c.disconnect()
        c.loop_stop()


@pytest.fixture
def webhook():
    """A local HTTP server: ``(url, received)``, ``received`` the JSON bodies POSTed to it."""
    import http.server
    import json

    got: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", got
    server.shutdown()
    server.server_close()
    t.join(10)


def test_the_dialogs_mqtt_and_webhook_choice_reaches_the_monitor(qtbot, window, live_model,
                                                                 incident, tmp_path,
                                                                 monkeypatch, mosquitto,
                                                                 webhook):
    from PySide6.QtWidgets import QDialog

    from specview.gui import live_dialog

    port, mqtt_got = mosquitto
    url, hook_got = webhook
    out = tmp_path / "events"

    def accept(dlg) -> QDialog.DialogCode:  # the user fills the dialog in and clicks Start
        _fill_replay(dlg, live_model, incident, out)
        dlg.mqtt_edit.setText(f"127.0.0.1:{port}")
        dlg.topic_edit.setText("test/fan")
        dlg.webhook_edit.setText(url)
        dlg._accept()
        return QDialog.DialogCode(dlg.result())

    monkeypatch.setattr(live_dialog.LiveDialog, "exec", accept)
    window.menu_actions["live_monitor"].trigger()
    live = window.live_window
    qtbot.addWidget(live)
    qtbot.waitUntil(lambda: live.session.summary is not None, timeout=TIMEOUT)
    ev = the_event(live)
    n = live.session.summary.events
    # every event's alert and final record, by both ways (the session closes the sinks, which
    # wait for their queues, before it ends)
    qtbot.waitUntil(lambda: len(hook_got) == 2 * n and len(mqtt_got) == 2 * n, timeout=30_000)
    for got in ([p for _, p in mqtt_got], hook_got):
        opened = [p for p in got if p["event"] == ev.id and p["state"] == "open"]
        closed = [p for p in got if p["event"] == ev.id and p["state"] == "closed"]
        assert len(opened) == len(closed) == 1
        assert abs(opened[0]["start"] - TONE[0]) <= 0.5
        assert closed[0]["end"] == pytest.approx(ev.end, abs=0.001)
        assert closed[0]["f_low"] <= TONE[2] <= closed[0]["f_high"]
        assert closed[0]["input"].endswith(incident.name)
        assert Path(closed[0]["clip"]).is_file()
    topics = sorted({t for t, _ in mqtt_got})
    assert topics == ["test/fan", "test/fan/closed"]
    # the choice is remembered for the next run
    assert window.settings.value("live/mqtt") == f"127.0.0.1:{port}"
    assert window.settings.value("live/webhook") == url
    window.close()
    assert not live.session.running
