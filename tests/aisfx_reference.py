"""Reference output of the aisfx encoder with the shipped weights on a fixed input.

``tests/test_encoders.py`` compares the encoder against ``tests/data/aisfx_reference.json``;
this module builds the input and the summary both sides use. Regenerate the file (only when
the weights or the network are meant to change, and say why in the commit) with

    .venv/bin/python tests/aisfx_reference.py

The input is a log-mel image written directly (no STFT, so the front end's numerics do not take
part): a stationary harmonic ridge, a rising sine sweep, a short broadband click and seeded
noise, in the 0-1 range of the aisfx front end's compressed output.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

PATH = Path(__file__).parent / "data" / "aisfx_reference.json"
LAYERS = ("block1", "block2", "block3", "block4")
N_MELS, N_FRAMES = 96, 125  # 125 frames: features() pads them to 128 (edge replication)
#: float32 on the CPU: summation order differs between torch builds and thread counts
RTOL, ATOL = 1e-4, 1e-5


def reference_input() -> np.ndarray:
    """``(96, 125)`` float32 log-mel: sines along time and frequency plus seeded noise."""
    rng = np.random.default_rng(20240613)
    rows = np.arange(N_MELS, dtype=np.float64)[:, None]
    cols = np.arange(N_FRAMES, dtype=np.float64)[None, :]
    x = 0.15 + 0.05 * rng.standard_normal((N_MELS, N_FRAMES))
    for k in (1, 2, 3, 4):  # harmonic ridges at rows 12, 24, 36, 48, fading with order
        x += (0.5 / k) * np.exp(-0.5 * ((rows - 12 * k) / 1.2) ** 2) * np.ones_like(cols)
    sweep = 20 + 50 * (cols / N_FRAMES) + 4 * np.sin(2 * np.pi * cols / 25)  # rising, wobbling
    x += 0.4 * np.exp(-0.5 * ((rows - sweep) / 1.5) ** 2)
    x[:, 60:63] += 0.3 * np.exp(-rows[:, 0] / 60)[:, None]  # a click: broadband, 3 frames
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def summarise(features) -> dict[str, dict]:
    """Per layer: shape, whole-map statistics, per-channel means of the first 16 channels and
    a small block of raw values (channels 0-3, the first 2 rows, columns 4-7)."""
    out = {}
    for name, f in zip(LAYERS, features, strict=True):
        a = f.detach().cpu().double().numpy()
        out[name] = {
            "shape": list(a.shape),
            "mean": float(a.mean()),
            "std": float(a.std()),
            "max": float(a.max()),
            "active": float((a > 0).mean()),  # share of cells the ReLU lets through
            "channel_mean": a[:16].mean(axis=(1, 2)).tolist(),
            "values": a[:4, :2, 4:8].tolist(),
        }
    return out


def encoder():
    from specview.encoders.aisfx import AisfxEncoder, AisfxParams

    return AisfxEncoder(AisfxParams(layers=LAYERS))


def compute() -> dict:
    from specview.encoders.aisfx import default_checkpoint

    enc = encoder()
    x = reference_input()
    return {
        "weights_sha256": hashlib.sha256(default_checkpoint().read_bytes()).hexdigest(),
        "input": {"mean": float(x.mean(dtype=np.float64)), "std": float(x.std(dtype=np.float64))},
        "layers": summarise(enc.features(x)),
    }


def main() -> None:
    import torch

    torch.manual_seed(0)
    ref = compute()
    PATH.parent.mkdir(exist_ok=True)
    PATH.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {PATH} ({PATH.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
