"""Encoders: pretrained networks that turn a spectrogram into feature maps on a grid."""

from __future__ import annotations

from specview.encoders.aisfx import AisfxEncoder
from specview.encoders.base import Encoder, resolve_device
from specview.encoders.cnn14 import Cnn14Encoder
from specview.encoders.efficientnet import EfficientNetEncoder
from specview.errors import ParameterError

ENCODERS: dict[str, type[Encoder]] = {
    "aisfx": AisfxEncoder,
    "cnn14": Cnn14Encoder,
    "efficientnet-lite0": EfficientNetEncoder,
}

DEFAULT_ENCODER = "aisfx"


def make_encoder(name: str, overrides: dict | None = None, *, device: str | None = "cpu",
                 strict: bool = False) -> Encoder:
    """Build a registered encoder with its parameters overridden by ``key=value`` strings."""
    from specview.params import with_overrides

    if name not in ENCODERS:
        raise ParameterError(f"unknown encoder {name!r}; available: {', '.join(ENCODERS)}")
    cls = ENCODERS[name]
    params = with_overrides(cls.Params(), overrides or {}, strict=strict)
    return cls(params, device=device)


__all__ = ["ENCODERS", "DEFAULT_ENCODER", "Encoder", "make_encoder", "resolve_device"]
