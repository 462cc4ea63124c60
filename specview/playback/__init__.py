"""Listening to a clip: the signals to play (pure functions) and a callback-driven player.

Everything that shapes the sound is a pure function of float32 mono samples and an explicit
sample rate, so the GUI, the CLI (``specview play``) and the tests hear exactly the same thing:

* :func:`segment` cuts a time span (sample-accurate), :func:`fade_edges` removes clicks at its
  ends, :func:`band_limit` keeps one frequency band (zero-phase FIR, >= 80 dB designed
  stopband one transition width outside the band), :func:`change_speed` resamples so that the
  sound lasts ``duration / factor`` and its pitch moves by ``factor`` (slowing down brings high
  content into the audible range);
* :func:`map_mask` and :func:`mask_resynthesis` turn a detector's anomaly map into a soft
  time-frequency mask and resynthesise "the anomaly only" or "the clip without the anomaly"
  (the two add up to the clip);
* :func:`render` chains them in a fixed order and returns the exact signal that is played.

:class:`Player` plays a preloaded array through PortAudio (``sounddevice``): a callback copies
blocks from the array and advances a position counter, the caller only polls. ``sounddevice``
is imported inside functions because PortAudio may be missing on a headless machine.

Core module: numpy, scipy and the specview core only.

Modules: :mod:`~specview.playback.signals` (segment, fades, band limit, speed),
:mod:`~specview.playback.masks` (anomaly masks and their resynthesis),
:mod:`~specview.playback.rendering` (:func:`render`) and :mod:`~specview.playback.player`
(:class:`Player`, the only one that touches ``sounddevice``). Every public name is re-exported
here: import from ``specview.playback``.
"""

from __future__ import annotations

from specview.playback.masks import map_mask, mask_resynthesis
from specview.playback.player import Player
from specview.playback.rendering import render
from specview.playback.signals import (
    MAX_SPEED,
    MIN_SPEED,
    STOPBAND_DB,
    band_filter,
    band_limit,
    change_speed,
    fade_edges,
    segment,
    transition_width,
)
from specview.playback.signals import MAX_TRANSITION_HZ as MAX_TRANSITION_HZ
from specview.playback.signals import MIN_TRANSITION_HZ as MIN_TRANSITION_HZ
from specview.playback.signals import TRANSITION_SHARE as TRANSITION_SHARE

__all__ = [
    "MAX_SPEED",
    "MIN_SPEED",
    "STOPBAND_DB",
    "Player",
    "band_limit",
    "band_filter",
    "change_speed",
    "fade_edges",
    "map_mask",
    "mask_resynthesis",
    "render",
    "segment",
    "transition_width",
]
