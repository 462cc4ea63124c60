"""Time the annotation readers and writers on large tables (the figures in the README).

    python bench/bench_annotations.py [--boxes 100000]

Writes and reads N boxes in each format, and loads, edits and saves a Raven sidecar with two
views per selection and measurement columns (as Raven Pro writes them). Prints seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from specview import annotations as A
from specview.types import Box


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boxes", type=int, default=100_000)
    n = ap.parse_args().boxes
    boxes = [Box(i * 0.01, i * 0.01 + 0.5, 100.0 + i % 50, 2000.0 + i % 70, f"label {i}")
             for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        print(f"{n} boxes")
        for fmt, name in (("json", "b.json"), ("raven", "b.txt"), ("audacity", "a.txt")):
            path = d / name
            _, w = timed(lambda p=path, f=fmt: A.export_boxes(p, boxes, fmt=f))
            back, r = timed(lambda p=path: A.import_boxes(p, nyquist=22050.0))
            assert back == boxes
            size = (d / name).stat().st_size / 1e6
            print(f"  {fmt:9s} write {w:6.2f} s   read {r:6.2f} s   ({size:.1f} MB)")
        # a Raven Pro-style sidecar: two views per selection, measurement columns
        audio = d / "rec.wav"
        head = ("Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
                "High Freq (Hz)\tDelta Time (s)\tPeak Freq (Hz)\tSpecies\n")
        rows = "".join(
            f"{i}\t{v}\t1\t{b.t0!r}\t{b.t1!r}\t{b.f0!r}\t{b.f1!r}\t0.5\t{1000 + i % 9}.5\tsp{i % 7}\n"
            for i, b in enumerate(boxes, 1) for v in ("Waveform 1", "Spectrogram 1"))
        A.sidecar_path(audio).write_text(head + rows)
        state, t_load = timed(lambda: A.load_sidecar(audio))
        edited = list(state.boxes)
        edited[n // 2] = dataclasses.replace(edited[n // 2], label="edited")
        _, t_save = timed(lambda: A.save_sidecar(audio, edited[1:] + [Box(1, 2, 3, 4, "new")]))
        _, t_same = timed(lambda: A.save_sidecar(audio, A.load_sidecar(audio).boxes))
        print(f"  sidecar ({2 * n} rows, 2 views): load {t_load:.2f} s, save an edit, a deletion "
              f"and a new box {t_save:.2f} s, load + unchanged save {t_same:.2f} s")


if __name__ == "__main__":
    main()
