"""Alerts of the live monitor: MQTT (paho-mqtt) and a webhook (HTTP POST of JSON).

Each sink delivers on its own thread from a bounded outbox, so that sending never blocks the
audio path: :meth:`Sink.send` only queues. A delivery that fails is retried with exponential
backoff (0.5 s doubling up to 30 s) until it succeeds or ``retries`` attempts are spent; an
outbox that is full drops its oldest message, and both are logged. :meth:`Sink.close` waits (up
to a timeout) for what is queued to go out.

Every message is one JSON object; ``state`` is ``"open"`` for the alert of an event (sent once,
as soon as it opens) and ``"closed"`` for its final record (sent once, after its clip is saved).
MQTT publishes the alert on the topic and the final record on ``<topic>/closed``; the webhook
POSTs both to its URL, with an ``Idempotency-Key`` header ``<run>-<event>-<state>`` so that a
receiver can drop the duplicate a retry after a lost reply would make.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from specview.errors import ParameterError

Log = Callable[[str], None]

#: Seconds before the second attempt; each later wait doubles, up to :data:`MAX_BACKOFF`.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class Sink:
    """A delivery thread over a bounded outbox; subclasses implement :meth:`deliver`."""

    name = "sink"

    def __init__(self, *, retries: int = 8, outbox: int = 1000, log: Log | None = None,
                 first_backoff: float = FIRST_BACKOFF, max_backoff: float = MAX_BACKOFF) -> None:
        self.retries = int(retries)
        self.first_backoff, self.max_backoff = float(first_backoff), float(max_backoff)
        self.log = log or (lambda line: None)
        self._q: queue.Queue = queue.Queue(maxsize=outbox)
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self.attempts = 0
        self._thread = threading.Thread(target=self._run, name=f"specview-{self.name}",
                                        daemon=True)
        self._thread.start()

    def deliver(self, payload: dict[str, Any]) -> None:
        """Send one message; raise on failure (it is retried)."""
        raise NotImplementedError

    def send(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for delivery; returns at once."""
        with self._idle:
            self._busy += 1
        while True:
            try:
                self._q.put_nowait(payload)
                return
            except queue.Full:
                try:
                    old = self._q.get_nowait()
                except queue.Empty:
                    continue
                self.dropped += 1
                self._done()
                self.log(f"{self.name}: outbox full, dropped the message of event "
                         f"{old.get('event')} ({old.get('state')})")

    def _done(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def _run(self) -> None:
        while True:
            try:
                payload = self._q.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            try:
                self._attempt(payload)
            finally:
                self._done()

    def _attempt(self, payload: dict[str, Any]) -> None:
        wait = self.first_backoff
        for attempt in range(1, self.retries + 1):
            self.attempts += 1
            try:
                self.deliver(payload)
                self.sent += 1
                return
            except Exception as exc:  # any failure of the transport is retried
                if attempt == self.retries:
                    self.failed += 1
                    self.log(f"{self.name}: gave up on event {payload.get('event')} "
                             f"({payload.get('state')}) after {attempt} attempts: {exc}")
                    return
                self.log(f"{self.name}: attempt {attempt} failed ({exc}); retrying in "
                         f"{wait:.1f} s")
                if self._stop.wait(wait) and self._stop_now:
                    self.failed += 1
                    return
                wait = min(self.max_backoff, 2 * wait)

    _stop_now = False

    def close(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` s for the outbox to empty, then stop; True if it emptied."""
        end = time.monotonic() + timeout
        with self._idle:
            while self._busy and time.monotonic() < end:
                self._idle.wait(max(0.0, min(0.2, end - time.monotonic())))
            emptied = self._busy == 0
        self._stop_now = True
        self._stop.set()
        self._thread.join(timeout=2.0)
        return emptied


def parse_host_port(text: str, default_port: int = 1883) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, ``[v6]:PORT``) to ``(host, port)``."""
    text = text.strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        port = int(port)
    except ValueError:
        raise ParameterError(f"--mqtt {text}: the port must be a number (HOST:PORT)") from None
    if not host or not 0 < port < 65536:
        raise ParameterError(f"--mqtt {text}: give HOST:PORT, e.g. localhost:1883")
    return host, port


class MqttSink(Sink):
    """Publishes to an MQTT broker (paho-mqtt, its network loop on its own thread; reconnects
    by itself, 1 s doubling to 30 s). ``qos`` 1 (default): the broker acknowledges each
    message, which is resent until it does; a delivery waits for the acknowledgement."""

    name = "mqtt"

    def __init__(self, host: str, port: int, topic: str, *, qos: int = 1,
                 client_id: str | None = None, connect_timeout: float = 5.0,
                 **kwargs: Any) -> None:
        import os

        import paho.mqtt.client as mqtt

        if qos not in (0, 1, 2):
            raise ParameterError(f"MQTT qos must be 0, 1 or 2, got {qos!r}")
        if not topic or any(c in topic for c in "+#"):
            raise ParameterError(f"--topic {topic!r}: give a topic without wildcards")
        self.host, self.port, self.topic, self.qos = host, int(port), topic, int(qos)
        self.connect_timeout = float(connect_timeout)
        self._connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"specview-monitor-{os.getpid()}")
        self.client.reconnect_delay_set(1, 30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        log = kwargs.get("log") or (lambda line: None)
        self._log_conn = log
        self.client.connect_async(host, self.port, keepalive=30)
        self.client.loop_start()
        super().__init__(**kwargs)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if getattr(reason_code, "is_failure", False):
            self._log_conn(f"mqtt: {self.host}:{self.port} refused the connection "
                           f"({reason_code})")
            return
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self._connected.is_set():
            self._log_conn(f"mqtt: disconnected from {self.host}:{self.port} ({reason_code}); "
                           "reconnecting")
        self._connected.clear()

    def deliver(self, payload: dict[str, Any]) -> None:
        if not self._connected.wait(self.connect_timeout):
            raise ConnectionError(f"not connected to {self.host}:{self.port}")
        topic = self.topic if payload.get("state") == "open" else f"{self.topic}/closed"
        info = self.client.publish(topic, json.dumps(payload), qos=self.qos)
        if info.rc != 0:
            raise ConnectionError(f"publish failed (rc {info.rc})")
        info.wait_for_publish(timeout=self.connect_timeout)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge the message")

    def close(self, timeout: float = 5.0) -> bool:
        emptied = super().close(timeout)
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()
        return emptied


class WebhookSink(Sink):
    """POSTs each message as JSON to ``url`` (``urllib``; a reply of 2xx is a delivery, any
    other status or a connection error is retried)."""

    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 5.0, **kwargs: Any) -> None:
        if not url.lower().startswith(("http://", "https://")):
            raise ParameterError(f"--webhook {url}: give an http:// or https:// URL")
        self.url, self.timeout = url, float(timeout)
        super().__init__(**kwargs)

    def deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        key = f"{payload.get('run', '')}-{payload.get('event', '')}-{payload.get('state', '')}"
        req = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": key,
            "User-Agent": "specview-monitor"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as reply:
                status = reply.status
        except urllib.error.HTTPError as exc:
            raise ConnectionError(f"HTTP {exc.code} from {self.url}") from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"{self.url}: {exc.reason}") from None
        if not 200 <= status < 300:
            raise ConnectionError(f"HTTP {status} from {self.url}")
