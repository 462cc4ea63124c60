import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from machine_sounds import SR, machine_tone  # noqa: E402,F401 - re-exported


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


@pytest.fixture(scope="module")
def tiny():
    """The tiny test encoder registered as ``"tiny"`` (so model files of it load by name)."""
    from specview.encoders import ENCODERS
    from specview.encoders.tiny import TinyEncoder

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ENCODERS, "tiny", TinyEncoder)
        yield
