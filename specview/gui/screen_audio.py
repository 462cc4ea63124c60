"""The samples of what is on screen, at the recording's own rate, read once for every user.

Listening, the display spectrogram, the box measurements and Export view all need the audio
behind the view: the whole clip, or of a long recording the span the pager has loaded (its
:func:`~specview.gui.long_recording.span_audio`, never the whole file). :class:`ScreenAudio`
reads it once and hands the same array to each of them, from any thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specview.audio import load_audio
from specview.gui.long_recording import span_audio

#: Recordings (or spans) kept: the one on screen and the one before it.
KEEP = 2


@dataclass(frozen=True)
class AudioRequest:
    """What to read: a clip (``span`` None) or the loaded ``span`` of the long recording
    ``long``; ``channel`` as the model hears it (None: the mean of all channels)."""

    path: Path
    channel: int | None = None
    span: tuple[float, float] | None = None
    long: object | None = None

    @property
    def key(self) -> tuple:
        return (self.path, self.channel, self.span)


class ScreenAudio:
    """Shared, thread-safe reader of the audio on screen."""

    def __init__(self, state) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, tuple[np.ndarray, int, float]] = OrderedDict()

    def loaded_range(self) -> tuple[float, float] | None:
        """Seconds of a long recording's span that are loaded (None for an ordinary clip)."""
        st = self.state
        lr, d = st.long, st.display
        if lr is None or d is None or st.clip_path != lr.path or not len(d.times):
            return None
        a0 = float(d.times[0])
        return a0, min(lr.duration, a0 + float(d.duration))

    def request(self) -> AudioRequest | None:
        """What is on screen now (call in the GUI thread); None when nothing is."""
        st = self.state
        if st.clip_path is None or st.display is None:
            return None
        loaded = self.loaded_range()
        if loaded is not None:
            return AudioRequest(st.clip_path, st.long.channel, loaded, st.long)
        model = st.model
        channel = model.info.get("channel") if model is not None else None
        return AudioRequest(st.clip_path, channel)

    def get(self, req: AudioRequest) -> tuple[np.ndarray, int, float]:
        """``(samples, rate, time of the first sample in the recording)``; any thread."""
        key = req.key
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        if req.span is not None:
            a = span_audio(req.long, req.span[0], req.span[1], sr=req.long.sample_rate)
            out = (a.samples, int(a.sr), float(req.span[0]))
        else:
            a = load_audio(req.path, channel=req.channel)
            out = (a.samples, int(a.sr), 0.0)
        with self._lock:
            self._cache[key] = out
            self._cache.move_to_end(key)
            while len(self._cache) > KEEP:
                self._cache.popitem(last=False)
        return out
