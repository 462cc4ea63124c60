import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SR = 44100


def machine_tone(duration: float, sr: int = SR, *, seed: int = 0, f0: float = 27.0) -> np.ndarray:
    """A harmonic rotating-machine-like tone with broadband noise, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * sr)) / sr
    x = 0.03 * rng.standard_normal(len(t))
    for h in range(1, 12):
        x += 0.08 / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    return (0.5 * x).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for the tiny-encoder tests: ~10x faster than two on a loaded machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def enc():
    from specview.encoders.tiny import TinyEncoder

    return TinyEncoder()
