"""Frozen parameter dataclasses: help text, ``--set key=value`` overrides, JSON round trips."""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any, TypeVar

import numpy as np

from specview.errors import ParameterError

P = TypeVar("P")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _convert(name: str, text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (origin is not None and type(None) in args):
        inner = [a for a in args if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _convert(name, text, inner[0])
    try:
        if tp is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if tp is int:
            return int(text)
        if tp is float:
            return float(text)
        if tp is str:
            return text
        if origin is tuple:
            elem = args[0] if args else str
            return tuple(_convert(name, t.strip(), elem) for t in text.split(",") if t.strip())
    except ValueError:
        pass
    else:
        raise ParameterError(f"parameter {name!r} has an unsupported type {tp}")
    raise ParameterError(f"parameter {name}={text!r}: expected {getattr(tp, '__name__', tp)}")


def check_fields(params: Any) -> None:
    """Type checks every parameter dataclass runs first in its ``__post_init__``.

    Each field must hold a value of its annotated type: a ``float`` field a finite real number
    (NaN and infinities are refused), an ``int`` field a whole number (``3.0`` is taken as 3;
    ``2.5`` and booleans are refused), a ``bool`` field a boolean, a ``str`` field a string and
    a tuple field a tuple of its element type. Whole numbers stay within +-2**62 (torch's
    64-bit integers), and a field named ``seed`` within 0 to 2**32 - 1 (what every random
    generator accepts). Other ranges (sign, bounds) are each class's own checks, made after
    this one.

    Raises
    ------
    ParameterError
        Naming the class, the field and the value.
    """
    cls = type(params)
    types = _field_types(cls)
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        fixed = _checked_value(cls.__name__, f.name, value, types[f.name])
        if f.name == "seed" and isinstance(fixed, int) and not 0 <= fixed <= MAX_SEED:
            raise ParameterError(f"{cls.__name__}: seed={fixed}: use 0 to {MAX_SEED}")
        if fixed is not value:
            object.__setattr__(params, f.name, fixed)


#: Largest seed accepted (``numpy.random.RandomState``'s limit; torch takes any 64-bit value).
MAX_SEED = 2**32 - 1
#: Largest magnitude of an integer parameter (fits torch's int64 with room for arithmetic).
MAX_INT = 2**62


def _checked_value(owner: str, name: str, value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (origin is not None and type(None) in args):
        if value is None:
            return value
        inner = [a for a in args if a is not type(None)]
        return _checked_value(owner, name, value, inner[0])
    where = f"{owner}: {name}={value!r}"
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ParameterError(f"{where}: expected true or false")
        return bool(value)
    if tp is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise ParameterError(f"{where}: expected a whole number")
        if not isinstance(value, (int, np.integer)) and (
                not math.isfinite(float(value)) or float(value) != int(value)):
            raise ParameterError(f"{where}: expected a whole number")
        if abs(int(value)) > MAX_INT:
            raise ParameterError(f"{where}: too large (at most {MAX_INT:.3g} in size)")
        return value if type(value) is int else int(value)
    if tp is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise ParameterError(f"{where}: expected a number")
        if not math.isfinite(float(value)):
            raise ParameterError(f"{where}: must be a finite number")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ParameterError(f"{where}: expected text")
        return value
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise ParameterError(f"{where}: expected a comma-separated list")
        elem = args[0] if args else str
        fixed = tuple(_checked_value(owner, name, v, elem) for v in value)
        return value if isinstance(value, tuple) and fixed == value else fixed
    return value


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` to a dict, with a clear error for malformed items."""
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise ParameterError(f"--set {item!r}: expected key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def with_overrides(params: P, overrides: dict[str, Any], *, strict: bool = True) -> P:
    """Return a copy of ``params`` with string (or typed) overrides applied.

    Unknown keys raise :class:`ParameterError` listing the valid ones, unless ``strict`` is False
    (then they are ignored, so one ``--set`` list can serve an encoder and a detector).
    """
    types = _field_types(type(params))
    names = [f.name for f in dataclasses.fields(params)]  # type: ignore[arg-type]
    changes = {}
    for k, v in overrides.items():
        if k not in names:
            if strict:
                raise ParameterError(
                    f"unknown parameter {k!r} for {type(params).__name__}; valid: {', '.join(names)}"
                )
            continue
        changes[k] = _convert(k, v, types[k]) if isinstance(v, str) else v
    try:
        return dataclasses.replace(params, **changes)  # type: ignore[type-var]
    except ParameterError:
        raise
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{type(params).__name__}: {exc}") from None


def to_dict(params: Any) -> dict[str, Any]:
    d = dataclasses.asdict(params)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def from_dict(cls: type[P], data: dict[str, Any]) -> P:
    """Rebuild parameters saved by :func:`to_dict` (lists become tuples again)."""
    types = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names
    if unknown:
        raise ParameterError(f"{cls.__name__}: unknown saved parameter(s) {sorted(unknown)}")
    kw = {}
    for k, v in data.items():
        if isinstance(v, list) and typing.get_origin(types[k]) is tuple:
            v = tuple(v)
        kw[k] = v
    return cls(**kw)


def describe(cls_or_params: Any) -> list[tuple[str, str, Any, str]]:
    """``(name, type name, default, help)`` for each field."""
    types = _field_types(cls_or_params if isinstance(cls_or_params, type) else type(cls_or_params))
    rows = []
    for f in dataclasses.fields(cls_or_params):
        default = (
            getattr(cls_or_params, f.name)
            if not isinstance(cls_or_params, type)
            else (f.default if f.default is not dataclasses.MISSING else f.default_factory())  # type: ignore[misc]
        )
        tp = types[f.name]
        rows.append((f.name, getattr(tp, "__name__", str(tp)), default, f.metadata.get("help", "")))
    return rows


def dumps(params: Any) -> str:
    return json.dumps(to_dict(params), sort_keys=True)
