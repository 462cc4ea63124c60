"""A synthetic machine-like tone for tests (importable from any test folder)."""

import numpy as np

SR = 44100


def machine_tone(duration: float, sr: int = SR, *, seed: int = 0, f0: float = 27.0) -> np.ndarray:
    """A harmonic rotating-machine-like tone with broadband noise, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * sr)) / sr
    x = 0.03 * rng.standard_normal(len(t))
    for h in range(1, 12):
        x += 0.08 / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    return (0.5 * x).astype(np.float32)
