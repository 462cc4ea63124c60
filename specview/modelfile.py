"""Model files: one ``.safetensors`` file with the detector's tensors and JSON metadata.

Loading never unpickles anything: safetensors holds raw tensors and a JSON header only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from specview import __version__
from specview.errors import ModelFileError
from specview.fileio import atomic_output

FORMAT = "specview-model"
FORMAT_VERSION = 1


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write tensors + metadata atomically with :func:`specview.fileio.atomic_output`.

    Raises
    ------
    specview.fileio.OutputWriteError
        The file could not be written (full disk, no permission...); a previous model file at
        ``path`` is unchanged and no temporary file is left.
    """
    from safetensors.torch import save_file

    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "specview_version": __version__}
    header.update(meta)
    data = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    with atomic_output(path) as tmp:
        save_file(data, str(tmp), metadata={"specview": json.dumps(header, sort_keys=True)})


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON metadata of a model file, validated for format (tensors not read)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("specview")
    except Exception as exc:
        raise ModelFileError(f"{path}: not a readable .safetensors model file ({exc})") from None
    if raw is None:
        raise ModelFileError(f"{path}: a safetensors file, but not a specview model (no metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: damaged specview metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a specview model file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {meta.get('format_version')} is not supported "
            f"(this specview reads version {FORMAT_VERSION}); refit the model"
        )
    for key in ("method", "method_params", "encoder"):
        if key not in meta:
            raise ModelFileError(f"{path}: model metadata lacks {key!r}")
    return meta


def load_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and metadata of a model file.

    Every tensor is checked here for what any detector needs: a number type (no booleans or
    complex numbers) and, for floating-point tensors, only finite values. Each detector then
    checks names, dtypes (floating point or integer) and shapes in its ``load_state_tensors``.

    Raises
    ------
    ModelFileError
        Damaged or foreign file; a tensor holding NaN or infinite values, or of an unusable
        type, is named.
    """
    from safetensors.torch import load_file

    meta = read_metadata(path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:
        raise ModelFileError(f"{path}: damaged tensor data ({exc})") from None
    for name, t in tensors.items():
        if t.dtype == torch.bool or t.is_complex():
            raise ModelFileError(
                f"{path}: tensor {name!r} is {str(t.dtype).removeprefix('torch.')}, not a "
                "number type: the model file is damaged, refit it"
            )
        if t.is_floating_point():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise ModelFileError(
                    f"{path}: tensor {name!r} holds {bad} NaN or infinite value(s): the model "
                    "file is damaged, refit it"
                )
    return tensors, meta
