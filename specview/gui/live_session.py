"""The live monitor off the GUI thread (issue 16): one :class:`LiveSession` runs
:class:`specview.monitor.Monitor` on a source (:mod:`specview.livesources`) in its own thread and
hands what it produces to the GUI thread.

The scoring, the events and their clips are the headless monitor's own (``specview monitor``
runs the same code): this module only moves the results across threads.

- map columns (:class:`specview.live.Columns`) go into a bounded deque, stamped with the
  :func:`time.perf_counter` at which the monitor gave them out (right after the window holding
  them was scored), and one ``columns_ready`` signal wakes the GUI thread, which drains them
  all (:meth:`LiveSession.drain`); a GUI that falls behind loses the oldest columns, never the
  monitor's pace;
- event changes go by a queued signal each (``event_changed(change, LiveEvent copy, clip
  path)``), none dropped;
- ``status`` (the monitor's gaps and periodic status), ``message`` (its log lines) and
  ``ended(summary or exception)`` once the thread has finished.

:meth:`LiveSession.stop` asks the monitor to stop after the chunk in hand (the open event is
closed and saved, as on SIGTERM) and ends a replay's paced wait; :meth:`LiveSession.wait`
joins the thread.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

#: Columns pieces held for the GUI at most (the monitor gives about 2.5 per second of audio).
MAX_PENDING = 2000


@dataclass(frozen=True)
class LiveInput:
    """What to listen to: a PortAudio input ``device`` (index, name or None for the default),
    or a recording ``path`` replayed at ``speed`` (1 real time, 0 as fast as it goes)."""

    path: Path | None = None
    speed: float = 1.0
    device: Any = None
    samplerate: int | None = None
    channels: int | None = None
    #: ``DeviceSource``'s ``stream_factory`` (tests stand a fake stream in for PortAudio's)
    stream_factory: Any = None

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        if self.path is not None:
            how = "as fast as it goes" if not self.speed else f"at {self.speed:g}×"
            return f"{Path(self.path).name} replayed {how}"
        return "default input device" if self.device is None else f"input device {self.device}"


def make_source(inp: LiveInput, stop: threading.Event, log=None):
    """The :mod:`specview.livesources` source of ``inp``, ended by ``stop``."""
    from specview.livesources import DeviceSource, FileSource

    if inp.path is not None:
        return FileSource(inp.path, speed=inp.speed, stop=stop)
    return DeviceSource(inp.device, samplerate=inp.samplerate, channels=inp.channels, stop=stop,
                        stream_factory=inp.stream_factory, log=log)


class LiveSession(QObject):
    """One run of the live monitor in a thread of its own.

    Signals
    -------
    started(dict)
        The source is open: ``name``, ``sr``, ``channels``, ``out``, ``model``.
    columns_ready()
        Columns wait in :meth:`drain` (one signal for any number of them).
    event_changed(str, object, str)
        ``(change, event, clip path)``: change ``open``, ``update``, ``close`` or ``saved``
        (the clip and its Raven sidecar are on disk), a copy of the
        :class:`~specview.liveevents.LiveEvent`.
    status(dict)
        A gap (``gap``, ``at``, ``why``) or the periodic status.
    message(str)
        One line of the monitor's log.
    ended(object)
        The :class:`~specview.monitor.MonitorSummary`, or the exception that ended the run.
    """

    started = Signal(dict)
    columns_ready = Signal()
    event_changed = Signal(str, object, str)
    status = Signal(dict)
    message = Signal(str)
    ended = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pending: collections.deque = collections.deque(maxlen=MAX_PENDING)
        self._wake_lock = threading.Lock()
        self._woken = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.monitor = None
        self.summary = None
        self.error: BaseException | None = None
        self.dropped = 0

    # -- control (GUI thread) --------------------------------------------------------------------
    def start(self, inp: LiveInput, out: str | Path, *, model=None,
              model_path: str | Path | None = None, settings=None, sinks=()) -> None:
        """Start monitoring ``inp`` with ``model`` (a loaded :class:`~specview.pipeline.Model`)
        or the model file ``model_path`` (loaded in the thread), events into ``out``."""
        if self.running:
            raise RuntimeError("this live session is already running")
        if model is None and model_path is None:
            raise ValueError("give a model or a model file")
        self._stop.clear()
        self.summary, self.error, self.monitor = None, None, None
        self._thread = threading.Thread(
            target=self._run, args=(inp, Path(out), model, model_path, settings, list(sinks)),
            name="specview-live", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def stop(self) -> None:
        """Ask the run to end (returns at once; ``ended`` follows)."""
        self._stop.set()
        m = self.monitor
        if m is not None:
            m.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Join the thread; True when it has ended."""
        t = self._thread
        if t is None:
            return True
        t.join(timeout)
        return not t.is_alive()

    def drain(self) -> list[tuple[Any, float]]:
        """The columns waiting, oldest first, each with the ``perf_counter`` at which the
        monitor gave it out."""
        with self._wake_lock:
            self._woken = False
        out = []
        while True:
            try:
                out.append(self._pending.popleft())
            except IndexError:
                return out

    # -- the thread ----------------------------------------------------------------------------
    def _on_item(self, kind: str, item: Any) -> None:
        if kind == "columns":
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append((item, time.perf_counter()))
            with self._wake_lock:
                wake, self._woken = not self._woken, True
            if wake:
                self.columns_ready.emit()
        elif kind == "event":
            change, ev = item
            # a copy: the tracker goes on changing its own object in this thread
            copy = replace(ev, boxes=list(ev.boxes))
            self.event_changed.emit(change, copy, str(self.monitor.clip_path(ev)))
        elif kind == "status":
            self.status.emit(dict(item))

    def _run(self, inp: LiveInput, out: Path, model, model_path, settings, sinks) -> None:
        from specview.monitor import Monitor

        result: Any = None
        threads = _one_torch_thread()
        try:
            if model is None:
                from specview import pipeline

                model = pipeline.load_model(model_path, device="cpu")
            if inp.path is not None:
                model.check_recording(inp.path)
            source = make_source(inp, self._stop, log=self.message.emit)
            monitor = Monitor(model, out, model_name=str(model_path or model.method),
                              input_name=getattr(source, "name", inp.describe()),
                              settings=settings, sinks=sinks, log=self.message.emit)
            monitor.subscribe(self._on_item)
            self.monitor = monitor
            if not self._stop.is_set():
                self.started.emit({"name": getattr(source, "name", inp.describe()),
                                   "sr": source.sr, "channels": source.channels,
                                   "out": str(out), "model": str(model_path or "")})
                result = self.summary = monitor.run(source)
                result.stopped = result.stopped or self._stop.is_set()
        except Exception as exc:  # noqa: BLE001 - reported to the window, never raised into Qt
            result = self.error = exc
        finally:
            _restore_torch_threads(threads)
            for sink in sinks:
                try:
                    sink.close(timeout=5.0)
                except Exception:  # noqa: BLE001 - a sink that cannot close loses its queue
                    pass
            self.ended.emit(result)


def _one_torch_thread() -> int | None:
    """One torch thread while live (as ``specview monitor`` by default): on two cores, two
    threads spinning beside the window's own thread scored 3x slower (measured: 20 s of input
    in 15 s of wall time against 5 s). torch's setting is the process's: the previous value is
    given back when the run ends."""
    try:
        import torch
    except ImportError:
        return None
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    return n


def _restore_torch_threads(n: int | None) -> None:
    if n is not None:
        import torch

        torch.set_num_threads(n)
