"""A long recording and its results store made in seconds, for the window's benchmark.

:func:`sparse_recording` writes a minute of machine hum as RF64 at 44.1 kHz and extends the
file sparsely to ``hours`` (the rest reads as silence: nothing is written, so a 24-h file
takes no disk). :func:`synthetic_store` writes a scored store for it as ``specview score``
would lay it out (:class:`specview.longstore.StoreWriter`, the window's default front end):
an overview with texture, a map with a low, noisy floor, and about ``per_hour`` flagged
events an hour whose cells rise above the threshold. The contents are made up; the sizes (a
24-h recording: 116k overview columns, 3.7 M map frames, about 860 events) are those of a
real day-long result, which is what the window's responsiveness depends on.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100


def sparse_recording(path: Path, hours: float) -> Path:
    """An RF64 file of ``hours`` (16-bit mono 44.1 kHz): a minute of hum, then a hole."""
    t = np.arange(60 * SR) / SR
    x = sum(0.2 / k * np.sin(2 * np.pi * 120 * k * t) for k in range(1, 8))
    x = (x + 0.01 * np.random.default_rng(0).standard_normal(t.size)).astype(np.float32)
    with sf.SoundFile(str(path), "w", samplerate=SR, channels=1, subtype="PCM_16",
                      format="RF64") as f:
        f.write(x)
    with open(path, "rb") as f:
        head = f.read(4096)
    off = head.index(b"data") + 8
    data = int(hours * 3600 * SR) * 2
    with open(path, "r+b") as f:
        assert head[:4] == b"RF64" and head[12:16] == b"ds64"
        f.seek(20)
        f.write(struct.pack("<QQQ", off + data - 8, data, data // 2))
    os.truncate(path, off + data)
    return path


def synthetic_store(recording: Path, folder: Path, *, per_hour: float = 36.0,
                    seed: int = 1) -> Path:
    """A complete scored store for ``recording`` (see the module's docstring)."""
    from specview import audiostream
    from specview.audio import audio_info
    from specview.gui.controller import default_front_end
    from specview.longstore import CHUNK_FRAMES, StoreWriter
    from specview.types import Box

    fe = default_front_end()
    rng = np.random.default_rng(seed)
    n_time = audiostream.expected_frames(recording, fe)
    duration = audio_info(recording)[2]
    mel = fe.mel_centres()
    spf = fe.seconds_per_frame
    w = StoreWriter(folder, n_time=n_time, freqs=mel, mel_freqs=mel, seconds_per_frame=spf,
                    attrs={"recording": str(recording),
                           "recording_bytes": recording.stat().st_size, "duration": duration,
                           "method": "patchcore", "encoder": "aisfx", "threshold": 1.0,
                           "median": 0.2, "per_hour": per_hour})
    n_ev = int(per_hour * duration / 3600)
    starts = np.sort(rng.uniform(0, duration - 5, n_ev))
    events = []
    floor = (0.2 + 0.05 * rng.standard_normal((len(mel), CHUNK_FRAMES))).astype(np.float32)
    tex = (-60 + 12 * rng.standard_normal((len(mel), CHUNK_FRAMES))).astype(np.float32)
    power = (10.0 ** (tex / 10.0)).astype(np.float32)
    for first in range(0, n_time, CHUNK_FRAMES):
        n = min(CHUNK_FRAMES, n_time - first)
        amap = floor[:, :n].copy()
        for t0 in starts[(starts >= first * spf) & (starts < (first + n) * spf)]:
            k0 = int(t0 / spf) - first
            k1 = min(n, k0 + int(rng.uniform(0.3, 3.0) / spf))
            r0 = int(rng.integers(0, len(mel) - 10))
            peak = float(rng.uniform(1.05, 4.0))
            amap[r0:r0 + 8, k0:k1] = peak
            events.append((Box(float(t0), float((first + k1) * spf), float(mel[r0]),
                               float(mel[r0 + 7])), peak, 8 * (k1 - k0)))
        fs = np.sort(amap, axis=0)[-5:].mean(axis=0)
        w.add_map(first, amap, fs, amap.max(axis=0))
        w.add_power(first, power[:, :n])
    w.finish(events, {"clip_score": max((e[1] for e in events), default=0.2),
                      "peak_time": 0.0, "peak_freq": float(mel[0]), "score_seconds": 0.0})
    return folder
