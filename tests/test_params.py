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
    enc, det = split_overrides("patchcore", "aisfx", {"hop_length": "256", "sigma": "2",
                                                      "detector.seed": "3"})
    assert enc == {"hop_length": "256"} and det == {"sigma": "2", "seed": "3"}
    with pytest.raises(ParameterError, match="unknown parameter"):
        split_overrides("patchcore", "aisfx", {"bogus": "1"})
