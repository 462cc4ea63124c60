import pytest

from specview.detectors.patchcore import PatchCoreParams
from specview.encoders.aisfx import AisfxParams
from specview.errors import ParameterError
from specview.params import from_dict, parse_overrides, to_dict, with_overrides
from specview.pipeline import split_overrides


def test_overrides_convert_types():
    p = with_overrides(AisfxParams(), {"layers": "block2,block3,block4", "hop_length": "256"})
    assert p.layers == ("block2", "block3", "block4") and p.hop_length == 256
    assert from_dict(AisfxParams, to_dict(p)) == p


def test_bad_overrides_say_what_is_wrong():
    with pytest.raises(ParameterError, match="coreset_ratio=.*expected float"):
        with_overrides(PatchCoreParams(), {"coreset_ratio": "lots"})
    with pytest.raises(ParameterError, match="must be in"):
        with_overrides(PatchCoreParams(), {"coreset_ratio": "2"})
    with pytest.raises(ParameterError, match="unknown parameter 'nope'"):
        with_overrides(PatchCoreParams(), {"nope": "1"})
    with pytest.raises(ParameterError, match="expected key=value"):
        parse_overrides(["coreset_ratio"])


def test_overrides_routed_to_encoder_or_detector():
    enc, det = split_overrides("patchcore", "aisfx", {"hop_length": "256", "smooth_s": "0.1",
                                                      "smooth_mel": "80", "detector.seed": "3"})
    assert enc == {"hop_length": "256"}
    assert det == {"smooth_s": "0.1", "smooth_mel": "80", "seed": "3"}
    with pytest.raises(ParameterError, match="unknown parameter"):
        split_overrides("patchcore", "aisfx", {"bogus": "1"})


def _param_classes():
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS
    from specview.encoders.tiny import TinyParams

    return [c.Params for c in DETECTORS.values()] + [c.Params for c in ENCODERS.values()] + [
        TinyParams]


def _fields_of(kind):
    import dataclasses
    import typing

    for cls in _param_classes():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if hints[f.name] is kind:
                yield pytest.param(cls, f.name, id=f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize("cls,name", list(_fields_of(float)))
@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_every_float_parameter_must_be_finite(cls, name, bad):
    with pytest.raises(ParameterError, match=rf"{name}=.*must be a finite number"):
        cls(**{name: bad})
    with pytest.raises(ParameterError, match=rf"{name}=.*must be a finite number"):
        with_overrides(cls(), {name: str(bad)})


@pytest.mark.parametrize("cls,name", list(_fields_of(int)))
def test_every_int_parameter_must_be_a_whole_number(cls, name):
    with pytest.raises(ParameterError, match=rf"{name}=2\.5: expected a whole number"):
        cls(**{name: 2.5})
    with pytest.raises(ParameterError, match=rf"{name}=True: expected a whole number"):
        cls(**{name: True})
    with pytest.raises(ParameterError, match=rf"{name}='2\.5': expected int"):
        with_overrides(cls(), {name: "2.5"})


def test_whole_floats_become_ints_and_ranges_are_checked_after_types():
    from specview.detectors.cfa import CFAParams
    from specview.detectors.stfpm import STFPMParams

    p = PatchCoreParams(num_neighbors=3.0)
    assert p.num_neighbors == 3 and type(p.num_neighbors) is int
    for bad in ({"smooth_s": -1.0}, {"smooth_mel": -1.0}, {"context_seconds": -1.0},
                {"projection_dim": 0}, {"seed": -1}, {"coreset_size": -1}):
        with pytest.raises(ParameterError, match=next(iter(bad))):
            PatchCoreParams(**bad)
    for cls in (CFAParams, STFPMParams):  # no training at all is no model
        with pytest.raises(ParameterError, match="epochs 0"):
            cls(epochs=0)
    with pytest.raises(ParameterError, match="gain_db 500"):
        AisfxParams(gain_db=500.0)


def test_saved_parameters_are_checked_too():
    with pytest.raises(ParameterError, match="smooth_s=nan"):
        from_dict(PatchCoreParams, {"smooth_s": float("nan")})
    with pytest.raises(ParameterError, match="smooth_mel=inf"):
        from_dict(PatchCoreParams, {"smooth_mel": float("inf")})
    with pytest.raises(ParameterError, match="layers=.*expected a comma-separated list"):
        from_dict(AisfxParams, {"layers": 3})
