"""A method's own defaults for an encoder's parameters (specview.methods): the same model
whether it is built directly, in a comparison or in the Fit dialog, and the user's overrides
win."""

from __future__ import annotations

import pytest

from specview import comparison, pipeline
from specview.detectors import DETECTORS
from specview.encoders.tiny import TinyEncoder
from specview.methods import encoder_defaults, encoder_params


def test_patchcore_reads_aisfx_blocks_2_and_3_and_the_others_blocks_2_to_4() -> None:
    assert encoder_defaults("padim", "aisfx") == {"layers": "block2,block3,block4"}
    for method in ("padim", "cfa", "stfpm"):
        assert pipeline.build(method).encoder.params.layers == ("block2", "block3", "block4")
    for method in ("patchcore", "zscore"):
        assert pipeline.build(method).encoder.params.layers == ("block2", "block3")
    # the user's choice wins over the method's default
    m = pipeline.build("padim", overrides={"encoder.layers": "block3"})
    assert m.encoder.params.layers == ("block3",)
    # other encoders keep their own defaults
    assert encoder_params("padim", "cnn14").layers == ("block2", "block3", "block4")
    assert encoder_defaults("padim", "cnn14") == {}
    with pytest.raises(Exception, match="unknown method"):
        encoder_defaults("nope", "aisfx")


@pytest.mark.slow
def test_compare_fits_each_method_on_its_own_layers_with_one_pass_per_set(
        tmp_path, monkeypatch, one_thread) -> None:
    from specview import encoders
    from specview.demo import make_demo_dataset

    root = tmp_path / "fan"
    make_demo_dataset(root, machine="fan", seed=5, n_train=6, n_test_normal=2,
                      n_test_anomalous=2, duration=2.0, sr=16000)
    monkeypatch.setitem(encoders.ENCODERS, "tiny", TinyEncoder)
    monkeypatch.setattr(DETECTORS["padim"], "encoder_defaults", {"tiny": {"layers": "block1"}})
    passes = []
    real_pass = comparison._encoder_pass

    def counted(enc, *a, **k):
        passes.append(enc.params.layers)
        return real_pass(enc, *a, **k)

    monkeypatch.setattr(comparison, "_encoder_pass", counted)
    methods = ["patchcore", "padim", "zscore"]
    rows = comparison.compare(root, tmp_path / "out", methods=methods, encoders=["tiny"],
                              overrides={"patchcore.coreset_ratio": "0.25"},
                              faithfulness=False, figures=False)
    assert [r["method"] for r in rows] == methods  # reported in the order asked for
    # patchcore and zscore share the default layers' pass; padim has its own
    assert passes == [("block1", "block2", "block3"), ("block1",)]
    layers = {m: pipeline.load_model(tmp_path / "out" / f"{m}-tiny" / "model.safetensors")
              .encoder.params.layers for m in methods}
    assert layers == {"patchcore": ("block1", "block2", "block3"), "padim": ("block1",),
                      "zscore": ("block1", "block2", "block3")}
