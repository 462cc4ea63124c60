"""Pieces shared by the encoder networks: safe checkpoint reading and the conv block of the
PANNs family (aisfx's CNN and CNN14 use the same one)."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from specview.errors import WeightsError


def _numpy_globals() -> list:
    """numpy names a checkpoint may pickle (training scalars, sampler arrays): data, not code.
    Checkpoints written under numpy 1 name ``numpy.core``; numpy 2 calls it ``numpy._core``."""
    import numpy.dtypes as nd
    from numpy._core.multiarray import _reconstruct, scalar

    dtypes = [getattr(nd, n) for n in dir(nd) if n.endswith("DType")]
    return [(scalar, "numpy.core.multiarray.scalar"),
            (_reconstruct, "numpy.core.multiarray._reconstruct"),
            scalar, _reconstruct, np.ndarray, np.dtype, *dtypes]


def safe_load(path: str | Path, what: str, *, mmap: bool = False) -> object:
    """``torch.load(weights_only=True)`` with only numpy's data types allowed besides tensors:
    a checkpoint can never run code.

    Raises
    ------
    WeightsError
        One line naming the file and why it cannot be read. torch's own message (several
        lines, suggesting ``weights_only=False``, which would let the file run code) is
        never passed on.
    """
    path = Path(path)
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        raise WeightsError(f"{path}: not a loadable {what} checkpoint ({_why(exc)})") from None


def _why(exc: Exception) -> str:
    """A one-line reason for a failed ``torch.load``."""
    text = str(exc)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return (f"it holds pickled Python objects ({found.group(1)}), which specview never "
                "loads since they could run code; use the checkpoint as published")
    # a file of other content fails inside the unpickler (a bad key, an early end)
    if isinstance(exc, (pickle.UnpicklingError, EOFError, KeyError)) or "magic number" in text:
        return "not a PyTorch checkpoint, or a damaged or incomplete download"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    first = re.sub(r"\x1b\[[0-9;]*m", "", first)
    return first if len(first) <= 160 else first[:157] + "..."


def batch_norm(x: torch.Tensor, bn: nn.BatchNorm1d | nn.BatchNorm2d,
               batch_stats: bool) -> torch.Tensor:
    # explicit: batch statistics only when a caller trains (STFPM's student), whatever mode
    # the module is in
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                        training=batch_stats, momentum=0.1, eps=bn.eps)


class ConvBlock(nn.Module):
    """Two 3x3 conv-BN-ReLU layers (parameter names as in the PANNs-style checkpoints)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor, *, batch_stats: bool = False) -> torch.Tensor:
        x = F.relu(batch_norm(self.conv1(x), self.bn1, batch_stats))
        return F.relu(batch_norm(self.conv2(x), self.bn2, batch_stats))
