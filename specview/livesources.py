"""Live inputs for :mod:`specview.monitor`: a recording replayed in real time (or faster) and a
PortAudio input device (sounddevice ``InputStream``).

Both yield :class:`Chunk` s: float32 samples ``(n, channels)`` at the input's rate, stamped with
their input time (seconds from the start of the input). A chunk that does not follow the
previous one carries the length of the gap before it (``gap``, seconds): audio lost to an input
overflow, to a full queue, or while a device that disappeared was reopened. Nothing is ever
filled in silently: the monitor starts a new segment at a gap and logs it with its length.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specview.audio import audio_info, check_samples
from specview.errors import AudioError, ParameterError

#: Seconds of audio per chunk of a replayed file, and per device callback by default.
BLOCK_SECONDS = 0.05

Log = Callable[[str], None]


@dataclass(frozen=True)
class Chunk:
    """Input samples ``(n, channels)`` float32 at ``sr``; ``t`` the input time (s) of the first;
    ``gap`` the seconds missing before it (0: it follows the previous chunk); ``wall`` the
    :func:`time.time` at which its last sample was available."""

    samples: np.ndarray
    sr: int
    t: float
    gap: float = 0.0
    wall: float = 0.0
    why: str = ""

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / self.sr


class FileSource:
    """A recording replayed as if it were live.

    Parameters
    ----------
    path : str or Path
    speed : float
        1 = real time, 4 = four times as fast, 0 = as fast as the monitor takes it.
    block_seconds : float
        Seconds per chunk.
    stop : threading.Event, optional
        Set it to end the replay early (a paced wait returns at once).

    Chunk ``k`` is handed out when its last sample would have arrived live:
    ``started + t_end / speed`` (:attr:`started` is the :func:`time.time` of the first chunk's
    start); a monitor slower than that gets the chunks as fast as it takes them, and
    :attr:`late` says how far behind it fell at most.
    """

    kind = "file"

    def __init__(self, path: str | Path, *, speed: float = 1.0,
                 block_seconds: float = BLOCK_SECONDS,
                 stop: threading.Event | None = None) -> None:
        if not (isinstance(speed, int | float) and np.isfinite(speed) and speed >= 0):
            raise ParameterError(f"speed must be a number >= 0 (0: as fast as possible), got "
                                 f"{speed!r}")
        self.path = Path(path)
        self.sr, self.channels, self.duration = audio_info(self.path)
        self.speed = float(speed)
        self.block = max(1, int(round(block_seconds * self.sr)))
        self.stop = stop or threading.Event()
        self.started = 0.0
        self.late = 0.0
        self.name = str(self.path)

    def __iter__(self) -> Iterator[Chunk]:
        import soundfile as sf

        from specview.audiostream import _sequential_reader

        with sf.SoundFile(str(self.path)) as f:
            readf = _sequential_reader(f)  # reads on without re-seeking (MP3 decodes as one)
            pos = 0
            self.started = time.time()
            while not self.stop.is_set():
                if readf is None:
                    data = f.read(self.block, dtype="float32", always_2d=True)
                else:
                    data = np.empty((self.block, self.channels), np.float32)
                    data = data[:readf(data)]
                if not data.shape[0]:
                    return
                try:
                    check_samples(data, self.path)
                except AudioError as exc:
                    raise AudioError(f"{exc} (in {pos / self.sr:.3f}-"
                                     f"{(pos + data.shape[0]) / self.sr:.3f} s)") from None
                t = pos / self.sr
                pos += data.shape[0]
                if self.speed > 0:
                    due = self.started + pos / self.sr / self.speed
                    wait = due - time.time()
                    if wait > 0:
                        if self.stop.wait(wait):
                            return
                    else:
                        self.late = max(self.late, -wait)
                yield Chunk(data, self.sr, t, 0.0, time.time())


def default_stream_factory(**kwargs: Any):
    """``sounddevice.InputStream(**kwargs)``."""
    import sounddevice as sd

    return sd.InputStream(**kwargs)


def device_defaults(device: Any) -> tuple[int, int, str]:
    """``(default sample rate, input channels, name)`` of a PortAudio input device."""
    import sounddevice as sd

    try:
        info = sd.query_devices(device, "input")
    except Exception as exc:  # sounddevice raises ValueError or PortAudioError
        raise AudioError(f"input device {device!r}: {exc}") from None
    return int(round(info["default_samplerate"])), int(info["max_input_channels"]), info["name"]


class DeviceSource:
    """A PortAudio input device, reopened when it disappears.

    Parameters
    ----------
    device : int, str or None
        PortAudio device index or (part of its) name; None: the default input.
    samplerate, channels : int, optional
        Default: the device's default rate and all its input channels.
    block_seconds : float
        Seconds per callback.
    queue_seconds : float
        Audio the callback may queue ahead of the monitor; beyond it blocks are dropped and the
        drop is a gap of known length.
    stall_seconds : float
        A stream that delivers nothing for this long (or stops being active) has lost its
        device: it is closed and reopened (backing off from 0.5 s to ``max_backoff``).
    stream_factory : callable, optional
        ``factory(device=, samplerate=, channels=, dtype=, blocksize=, callback=)`` returning an
        object with ``start()``, ``stop()``, ``close()`` and ``active`` (sounddevice's
        ``InputStream`` by default; tests inject a fake).
    log : callable, optional
        One line per gap, overflow and reopening.

    Gaps are measured: blocks dropped on a full queue exactly; an input overflow (PortAudio's
    ``input_overflow`` flag) from the callback's ADC time stamps
    (``time.inputBufferAdcTime``) where the host gives them, else from the arrival clock; a
    reopening from the wall clock. :attr:`overflows`, :attr:`gaps` (count) and
    :attr:`gap_seconds` add them up, :attr:`reopens` counts the reopenings.
    """

    kind = "device"

    def __init__(self, device: Any = None, *, samplerate: int | None = None,
                 channels: int | None = None, block_seconds: float = BLOCK_SECONDS,
                 queue_seconds: float = 30.0, stall_seconds: float = 2.0,
                 max_backoff: float = 10.0, stream_factory: Callable[..., Any] | None = None,
                 stop: threading.Event | None = None, log: Log | None = None) -> None:
        self.device = device
        self.factory = stream_factory or default_stream_factory
        self.block_seconds = float(block_seconds)
        self.queue_seconds = float(queue_seconds)
        self.stall_seconds = float(stall_seconds)
        self.max_backoff = float(max_backoff)
        self.stop = stop or threading.Event()
        self.log = log or (lambda line: None)
        if samplerate is None or channels is None:
            sr, ch, name = device_defaults(device)
            samplerate = samplerate or sr
            channels = channels or ch
            self.name = name
        else:
            self.name = f"device {device}" if device is not None else "default input device"
        if int(channels) < 1:
            raise AudioError(f"input device {self.name!r} has no input channels")
        self.sr, self.channels = int(samplerate), int(channels)
        self.block = max(1, int(round(self.block_seconds * self.sr)))
        self._q: queue.Queue = queue.Queue(maxsize=max(4, int(self.queue_seconds
                                                              / self.block_seconds)))
        self._dropped = 0          # samples dropped on a full queue (the callback's count)
        self._overflow = False
        self.overflows = 0
        self.gaps = 0
        self.gap_seconds = 0.0
        self.reopens = 0
        self.started = 0.0
        self._stream = None

    # -- the PortAudio callback: copy, stamp, queue; never block --------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:
        adc = float(getattr(time_info, "inputBufferAdcTime", 0.0) or 0.0)
        over = bool(status and getattr(status, "input_overflow", False))
        try:  # the blocks dropped since the last one queued go with the next one queued
            self._q.put_nowait((np.array(indata, dtype=np.float32, copy=True), adc, over,
                                time.monotonic(), time.time(), self._dropped))
            self._dropped = 0
        except queue.Full:
            self._dropped += int(frames)

    def _open(self) -> None:
        self._stream = self.factory(device=self.device, samplerate=self.sr,
                                    channels=self.channels, dtype="float32",
                                    blocksize=self.block, callback=self._callback)
        try:
            self._stream.start()
        except Exception:
            self._close()
            raise

    def _close(self) -> None:
        s, self._stream = self._stream, None
        if s is None:
            return
        for call in ("stop", "close"):
            try:
                getattr(s, call)()
            except Exception:  # a stream whose device is gone may fail to stop
                pass

    def close(self) -> None:
        self._close()

    def __iter__(self) -> Iterator[Chunk]:
        backoff = 0.5
        pos = 0                   # samples of input time so far (gaps included)
        last_adc = None           # ADC time the next block should start at
        clock0 = None             # (monotonic arrival, input time) of the stream's first block
        lost_at: float | None = None  # monotonic time the device was lost
        pending_gap, why = 0.0, ""
        try:
            while not self.stop.is_set():
                if self._stream is None:
                    try:
                        self._open()
                    except Exception as exc:
                        self.log(f"input device {self.name!r} cannot be opened ({exc}); "
                                 f"retrying in {backoff:.1f} s")
                        if self.stop.wait(backoff):
                            return
                        backoff = min(self.max_backoff, 2 * backoff)
                        continue
                    if lost_at is not None:
                        self.reopens += 1
                        self.log(f"input device {self.name!r} reopened")
                    last_adc, clock0 = None, None
                    last_arrival = time.monotonic()
                try:
                    data, adc, over, mono_t, wall, dropped = self._q.get(timeout=0.1)
                except queue.Empty:
                    active = getattr(self._stream, "active", True)
                    if not active or time.monotonic() - last_arrival > self.stall_seconds:
                        self.log(f"input device {self.name!r} stopped delivering audio "
                                 f"({'inactive' if not active else 'stalled'}); reopening")
                        self._close()
                        lost_at = last_arrival if lost_at is None else lost_at
                        backoff = 0.5
                    continue
                if lost_at is None:
                    last_arrival = mono_t
                if not self.started:
                    self.started = wall - data.shape[0] / self.sr
                n = data.shape[0]
                gap = 0.0
                if dropped:
                    gap += dropped / self.sr
                    why = "queue full: the monitor fell behind"
                if lost_at is not None:
                    gap += max(1.0 / self.sr, mono_t - n / self.sr - lost_at)
                    why = "device lost and reopened"
                    lost_at = None
                    last_arrival = mono_t
                elif over:
                    self.overflows += 1
                    if adc and last_adc is not None:
                        measured = adc - last_adc
                    elif clock0 is not None:
                        measured = (mono_t - clock0[0]) - (pos + n) / self.sr + clock0[1]
                    else:
                        measured = 0.0
                    gap += max(measured, 1.0 / self.sr)  # an overflow lost something
                    why = "input overflow"
                last_adc = adc + n / self.sr if adc else None
                if gap > 0:
                    pending_gap += gap
                    pos += int(round(gap * self.sr))
                if clock0 is None or pending_gap:
                    clock0 = (mono_t - n / self.sr, pos / self.sr)
                try:
                    check_samples(data, self.name)
                except AudioError as exc:
                    self.log(f"{exc}: {n / self.sr:.3f} s at {pos / self.sr:.3f} s dropped")
                    pending_gap += n / self.sr
                    why = "damaged samples"
                    pos += n
                    continue
                if pending_gap:
                    self.gaps += 1
                    self.gap_seconds += pending_gap
                chunk = Chunk(data, self.sr, pos / self.sr, pending_gap, wall, why)
                pending_gap, why = 0.0, ""
                pos += n
                backoff = 0.5
                yield chunk
        finally:
            self._close()
