"""Where do normal clips' maxima lie? The share on the border of the feature grid against the
share of border cells (issue 12's border target: at most twice that share).

    python bench/bench_borders.py DATASET MODEL.safetensors [MODEL ...] [--threads 2]

For each model, every normal test clip of DATASET (``--with-train`` adds the training clips,
which the models have seen) is scored and the map's maximum located. The border is one feature cell of the encoder's
coarsest selected layer from any edge: the first and last cells in time, the lowest and highest
in frequency. Prints, per model, the share of maxima on the border, the share of the map's cells
that lie there, and their ratio (1 = no border effect).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def border_mask(shape: tuple[int, int], time_cell: int, freq_cell: int) -> np.ndarray:
    """Cells within one feature cell of an edge of a ``(n_freq, n_time)`` map."""
    f, t = shape
    m = np.zeros(shape, dtype=bool)
    m[:freq_cell, :] = m[f - freq_cell:, :] = True
    m[:, :time_cell] = m[:, t - time_cell:] = True
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--with-train", action="store_true", help="also the (seen) training clips")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from specview import pipeline
    from specview.datasets import load_dataset

    ds = load_dataset(args.dataset)
    clips = [c.path for c in ds.test if c.label == 0] + (list(ds.train) if args.with_train else [])
    print(f"{len(clips)} normal clips of {Path(args.dataset).name}")
    print(f"{'model':34s} {'maxima on border':>17s} {'border cells':>13s} {'ratio':>6s}")
    for path in args.models:
        model = pipeline.load_model(path)
        grids = model.encoder.layer_grids()
        tc = max(g.time_stride for g in grids)
        fc = max(g.freq_stride for g in grids)
        on, share = [], []
        for clip in clips:
            r = model.score_file(clip).result
            b = border_mask(r.map.shape, tc, fc)
            i = np.unravel_index(int(np.argmax(r.map)), r.map.shape)
            on.append(bool(b[i]))
            share.append(float(b.mean()))
        hit, cells = float(np.mean(on)), float(np.mean(share))
        name = f"{model.method}/{model.encoder.name} ({Path(path).stem})"
        print(f"{name[:34]:34s} {hit:17.2f} {cells:13.2f} {hit / cells:6.1f}")


if __name__ == "__main__":
    main()
