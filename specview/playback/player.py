"""Output: a callback-driven :class:`Player` of a preloaded signal through PortAudio.

``sounddevice`` is imported inside functions (:func:`_sounddevice`) because PortAudio may be
missing on a headless machine: importing this module never loads it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from specview.errors import AudioError, ParameterError
from specview.playback.signals import _check_sr, _mono


def _sounddevice():
    """Import sounddevice (PortAudio) or raise AudioError saying why it is unavailable."""
    try:
        import sounddevice as sd
    except ImportError as exc:
        raise AudioError(
            f"audio output unavailable: the sounddevice package is missing ({exc})"
        ) from None
    except OSError as exc:  # the package is there but the PortAudio library is not
        raise AudioError(
            f"audio output unavailable: PortAudio cannot be loaded ({exc}); "
            "install it, e.g. sudo apt-get install libportaudio2"
        ) from None
    return sd


class Player:
    """Plays a preloaded signal through PortAudio; the caller polls, nothing blocks.

    A ``sounddevice.OutputStream`` callback copies blocks from the array and advances a
    sample counter under a lock; :meth:`position` and :attr:`is_playing` read it from any
    thread. Starting while playing stops the previous sound first.

    Parameters
    ----------
    device : int or str, optional
        PortAudio output device; the system default when omitted.
    """

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._stream = None
        self._data = np.zeros(0, dtype=np.float32)
        self._rate = 0
        self._pos = 0
        self._loop = False
        self._playing = False
        self._done = threading.Event()
        self._done.set()
        self._generation = 0
        self._finishing_thread: int | None = None
        self._stale: list = []
        self._callback_stop: type[BaseException] = Exception

    # -- availability ------------------------------------------------------------------------

    @staticmethod
    def available(device: int | str | None = None) -> tuple[bool, str]:
        """Whether sound can be played here: ``(True, device name)`` or ``(False, reason)``."""
        try:
            sd = _sounddevice()
        except AudioError as exc:
            return False, str(exc)
        try:
            info = sd.query_devices(device, kind="output" if device is None else None)
        except (sd.PortAudioError, ValueError) as exc:
            return False, f"no audio output device ({exc})"
        if int(info.get("max_output_channels", 0)) < 1:
            return False, f"device {info.get('name')!r} has no output channels"
        return True, f"output device {info.get('name')!r}"

    # -- control -----------------------------------------------------------------------------

    def play(
        self,
        samples: np.ndarray,
        sr: int,
        *,
        loop: bool = False,
        offset_s: float = 0.0,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        """Start playing ``samples`` (mono) at ``sr`` Hz from ``offset_s`` seconds.

        Parameters
        ----------
        samples : np.ndarray, shape (n_samples,)
            Copied as float32; usually :func:`render`'s output.
        sr : int, Hz
            If the device refuses this rate, the signal is resampled to the device's default
            rate (positions stay in seconds of the signal).
        loop : bool
            Start again from the beginning at the end, until :meth:`stop`.
        offset_s : float, seconds
            Where to start within the signal (0 <= offset < duration).
        on_finished : callable, optional
            Called once with no arguments when this sound ends for any reason (its end,
            :meth:`stop`, or a new :meth:`play`), from PortAudio's thread: it must return
            quickly and must not touch GUI widgets directly (emit a signal instead).

        Raises
        ------
        ParameterError
            Empty signal, or ``offset_s`` outside the signal.
        AudioError
            PortAudio is missing or the output cannot be opened.
        """
        x = _mono(samples).astype(np.float32)
        sr = _check_sr(sr)
        if x.size == 0:
            raise ParameterError("nothing to play: the signal is empty")
        dur = x.size / sr
        if not np.isfinite(offset_s) or not 0 <= offset_s < dur:
            raise ParameterError(f"offset {offset_s!r} s lies outside the {dur:.3f} s signal")
        sd = _sounddevice()
        self.stop()
        self._callback_stop = sd.CallbackStop
        with self._lock:
            self._generation += 1
            generation = self._generation
        rate = sr
        try:
            stream = self._open(sd, rate, generation, on_finished)
        except sd.PortAudioError as exc:
            try:
                default = int(sd.query_devices(self.device, kind="output")["default_samplerate"])
            except (sd.PortAudioError, ValueError, KeyError):
                default = rate
            if default == rate:
                raise AudioError(f"cannot open the audio output at {sr} Hz ({exc})") from None
            from specview.audio import resample

            x, rate = resample(x, sr, default), default
            try:
                stream = self._open(sd, rate, generation, on_finished)
            except sd.PortAudioError as exc2:
                raise AudioError(
                    f"cannot open the audio output at {sr} Hz or {rate} Hz ({exc2})"
                ) from None
        with self._lock:
            self._data = np.ascontiguousarray(x)
            self._rate = rate
            self._pos = min(int(round(offset_s * rate)), x.size - 1)
            self._loop = bool(loop)
            self._playing = True
            self._stream = stream
        self._done.clear()
        try:
            stream.start()
        except sd.PortAudioError as exc:
            with self._lock:
                self._playing = False
                self._stream = None
            self._done.set()
            stream.close()
            raise AudioError(f"cannot start the audio output ({exc})") from None

    def _open(self, sd, rate: int, generation: int, on_finished: Callable[[], None] | None):
        return sd.OutputStream(
            samplerate=rate, channels=1, dtype="float32", device=self.device,
            callback=self._callback,
            finished_callback=lambda: self._finished(generation, on_finished),
        )

    def stop(self) -> None:
        """Stop now (no-op when idle). ``on_finished`` runs before this returns."""
        if threading.get_ident() == self._finishing_thread:
            # called from on_finished: PortAudio cannot close a stream from its own thread, so
            # it is closed by the next call from another thread
            if self._stream is not None:
                self._stale.append(self._stream)
                self._stream = None
            return
        while self._stale:
            self._stale.pop().close()
        stream = self._stream
        if stream is None:
            return
        self._stream = None
        try:
            stream.abort()
        except Exception:  # an already-dead stream: closing is all that is left
            pass
        finally:
            stream.close()
        with self._lock:
            self._playing = False
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the sound ends (never, while looping, until :meth:`stop`).

        Returns
        -------
        bool
            True when it ended, False on timeout.
        """
        return self._done.wait(timeout)

    def close(self) -> None:
        """Stop and release the output."""
        self.stop()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state -------------------------------------------------------------------------------

    @property
    def is_playing(self) -> bool:
        with self._lock:
            return self._playing

    @property
    def loop(self) -> bool:
        """Whether the sound restarts at its end; may be changed while playing."""
        with self._lock:
            return self._loop

    @loop.setter
    def loop(self, value: bool) -> None:
        with self._lock:
            self._loop = bool(value)

    def position(self) -> float | None:
        """Seconds into the played signal of the next sample handed to PortAudio, or None
        when idle. The sound heard lags it by the device's output latency (a few tens of ms)."""
        with self._lock:
            if not self._playing:
                return None
            return self._pos / self._rate

    # -- PortAudio's thread ------------------------------------------------------------------

    def _callback(self, outdata, frames, time_info, status) -> None:
        out = outdata[:, 0]
        with self._lock:
            data, pos, n = self._data, self._pos, self._data.size
            written = 0
            while written < frames:
                take = min(frames - written, n - pos)
                out[written : written + take] = data[pos : pos + take]
                written += take
                pos += take
                if pos >= n:
                    if self._loop:
                        pos = 0
                    else:
                        break
            self._pos = pos
            ended = pos >= n and not self._loop
        if written < frames:
            out[written:] = 0.0
        if ended:
            raise self._callback_stop

    def _finished(self, generation: int, on_finished: Callable[[], None] | None) -> None:
        # a stream that was replaced may report its end after the next one started: it then
        # only runs its own on_finished and leaves the player's state alone
        with self._lock:
            current = generation == self._generation
            if current:
                self._playing = False
        self._finishing_thread = threading.get_ident()
        try:
            if on_finished is not None:
                on_finished()
        finally:
            self._finishing_thread = None
            if current:
                self._done.set()
