"""The display spectrogram of what is on screen, off the GUI thread (issue 15).

The view first shows the encoder's grid (what the clip job computed anyway), then the display
spectrogram (:func:`specview.display.spectrogram`, the user's FFT size, window, overlap, zero
padding, scale and frequency range) once a worker has computed it from the samples on screen
(:class:`~specview.gui.screen_audio.ScreenAudio`: the clip, or the long recording's loaded
span). Requests keep only the newest: one job runs, one waits, newer requests replace it.
Pictures are cached per (recording or span, channel, settings that change the picture); gain,
dB range and ceiling and the colour map only change how a picture is drawn, so changing them
computes nothing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from specview import display
from specview.display import DisplaySettings
from specview.gui.picture import pool
from specview.gui.screen_audio import AudioRequest, ScreenAudio
from specview.gui.workers import Job
from specview.types import Spectrogram

#: The window's display settings until the user sets others: a mel scale (the encoder's, so
#: the heatmap's bands are evenly spread) at FFT 2048 with 75 % overlap, in grey under the
#: heatmap's colours.
GUI_DEFAULT = DisplaySettings(n_fft=2048, overlap=0.75, scale="mel", colormap="gray")
#: Pictures kept (and their memory, at the most).
CACHE_PICTURES, CACHE_BYTES = 12, 512 * 2**20


def picture_key(s: DisplaySettings) -> DisplaySettings:
    """The part of the settings that changes the picture's values (not how it is drawn)."""
    return replace(s, gain_db=0.0, db_range=80.0, db_ceiling=None, colormap="viridis")


def compute(audio: ScreenAudio, req: AudioRequest, s: DisplaySettings) -> Spectrogram:
    """The display spectrogram (without gain) of ``req``'s samples; runs in a worker."""
    samples, sr, t0 = audio.get(req)
    return pool(display.spectrogram(samples, sr, picture_key(s), start=t0))


class FinePictures(QObject):
    """Holds the display settings and the display spectrogram of what is on screen.

    Signals
    -------
    settings_changed(DisplaySettings)
        ``settings`` changed (the view redraws at once; a new picture may follow).
    ready()
        ``picture`` is the display spectrogram of what is on screen now.
    status(str)
        A short message (what is being computed, how long it took).
    """

    settings_changed = Signal(object)
    ready = Signal()
    status = Signal(str)

    def __init__(self, state, audio: ScreenAudio, runner, *,
                 settings: DisplaySettings = GUI_DEFAULT, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.audio, self.runner = state, audio, runner
        self._settings = settings
        #: the display spectrogram on screen now, or None until it is computed
        self.picture: Spectrogram | None = None
        self.cache: OrderedDict[tuple, Spectrogram] = OrderedDict()
        self._job: Job | None = None
        self._pending: tuple[tuple, AudioRequest, DisplaySettings] | None = None
        self._wanted: tuple | None = None
        #: seconds the last picture took to compute (None: from the cache)
        self.last_seconds: float | None = None
        state.clip_loaded.connect(lambda _p: self.refresh())

    @property
    def settings(self) -> DisplaySettings:
        return self._settings

    def set_settings(self, s: DisplaySettings) -> None:
        if s == self._settings:
            return
        old, self._settings = self._settings, s
        self.settings_changed.emit(s)
        if picture_key(old) != picture_key(s):
            self.refresh()

    def key(self, req: AudioRequest | None = None) -> tuple | None:
        req = req or self.audio.request()
        return None if req is None else (req.key, picture_key(self._settings))

    def refresh(self) -> None:
        """Ask for the picture of what is on screen under the present settings: at once from
        the cache, else computed in the background (``ready`` when it arrives)."""
        req = self.audio.request()
        if req is None:
            self.picture, self._wanted, self._pending = None, None, None
            return
        key = self.key(req)
        if key == self._wanted and self.picture is not None:
            return
        self._wanted = key
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            self.picture, self.last_seconds = hit, None
            self.ready.emit()
            return
        self.picture = None
        self._pending = (key, req, self._settings)
        if self._job is None:
            self._start()

    def _start(self) -> None:
        if self._pending is None:
            return
        key, req, s = self._pending
        self._pending = None
        t = time.perf_counter()
        self.status.emit(f"Display spectrogram: FFT {s.n_fft}, {s.scale} scale…")
        job = Job(lambda _p: compute(self.audio, req, s), name="display spectrogram",
                  cancellable=False, parent=self)
        job.succeeded.connect(lambda spec: self._done(key, spec, time.perf_counter() - t))
        job.failed.connect(lambda exc: self.status.emit(f"Display spectrogram failed: {exc}"))
        job.finished.connect(self._finished)
        self._job = job
        self.runner.start(job)

    def _finished(self) -> None:
        self._job = None
        self._start()

    def _done(self, key: tuple, spec: Spectrogram, seconds: float) -> None:
        self.cache[key] = spec
        self.cache.move_to_end(key)
        while len(self.cache) > CACHE_PICTURES or (
                len(self.cache) > 1 and sum(v.values.nbytes for v in self.cache.values())
                > CACHE_BYTES):
            self.cache.popitem(last=False)
        if key != self._wanted:
            return  # superseded: kept for later, not shown
        self.picture, self.last_seconds = spec, seconds
        rows, cols = spec.values.shape
        self.status.emit(f"Display spectrogram: FFT {key[1].n_fft}, {rows} rows x {cols} "
                         f"frames in {seconds:.2f} s")
        self.ready.emit()
