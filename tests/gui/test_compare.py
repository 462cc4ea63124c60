"""The comparison window: linked panes, one playhead, calibrated colours, ranking, export."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from specview import pipeline
from specview.gui.compare_view import same_rows

TIMEOUT = 90000


@pytest.fixture(scope="session")
def padim_path(tiny_dataset, tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "padim.safetensors"
    pipeline.fit(tiny_dataset, method="padim").save(path)
    return path


@pytest.fixture
def cmp(qtbot, settings, tiny_dataset, model_path, padim_path):
    from specview.app import make_compare_window

    win = make_compare_window([str(tiny_dataset)], [str(model_path), str(padim_path)],
                              settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: len(win.entries) == 2 and win.state.clip_path is not None
                    and win.state.clip_path in win.cache, timeout=TIMEOUT)
    return win


def test_panes_show_each_models_calibrated_map(cmp, tiny_dataset):
    assert cmp.state.clip_path == tiny_dataset / "test" / "anomaly_000.wav"
    assert len(cmp.view.panes) == 2
    for pane, entry, (_display, r) in zip(cmp.view.panes, cmp.entries,
                                          cmp.cache[cmp.state.clip_path], strict=True):
        np.testing.assert_array_equal(pane.heat.image, entry.model.calibration.calibrated(r.map))
        assert tuple(pane.heat.getLevels()) == (0.0, 2.0)
    assert cmp.view.colorbar.levels() == (0.0, 2.0)
    # the same numbers as the headless pipeline gives
    m = cmp.entries[1].model
    direct = m.score_file(cmp.state.clip_path).result
    assert cmp.cache[cmp.state.clip_path][1][1].clip_score == pytest.approx(direct.clip_score,
                                                                            rel=1e-5)


def test_axes_are_linked_and_the_playhead_is_shared(qtbot, cmp):
    v = cmp.view
    assert same_rows([d.freqs for d, _r in cmp.cache[cmp.state.clip_path]])
    v.panes[0].vb.setXRange(0.5, 1.0, padding=0)
    v.panes[1].vb.setYRange(10, 40, padding=0)
    qtbot.waitUntil(lambda: all(abs(a - 0.5) < 1e-6 and abs(b - 1.0) < 1e-6
                                for a, b in v.x_ranges()), timeout=5000)
    assert all(abs(a - 10) < 1e-6 and abs(b - 40) < 1e-6 for a, b in v.y_ranges())
    v.clicked_at.emit(0.9)  # a click in any pane
    assert all(p.playhead.isVisible() and p.playhead.value() == pytest.approx(0.9)
               for p in v.panes)


def test_ranking_by_disagreement_and_stepping(qtbot, cmp, tiny_dataset):
    with qtbot.waitSignal(cmp.scored_all, timeout=TIMEOUT):
        cmp.score_all()
    paths = [tiny_dataset / "test" / n for n in ("anomaly_000.wav", "normal_000.wav")]
    assert set(cmp.summaries) == set(paths)
    cmp.sort_by("disagreement")
    order = cmp.clip_paths()
    d = [abs(min(cmp.summaries[p][0][1], 3) - min(cmp.summaries[p][1][1], 3)) for p in order]
    assert d == sorted(d, reverse=True)
    cmp.sort_by("0")  # by the first model's peak: the anomaly first
    assert cmp.clip_paths()[0] == paths[0]
    cmp.select_clip(paths[0])
    with qtbot.waitSignal(cmp.clip_shown, timeout=TIMEOUT):
        cmp.actions_["next"].trigger()
    assert cmp.state.clip_path == paths[1]
    assert cmp.dataset_metrics is not None and cmp.dataset_metrics[0]["clip_auroc"] == 1.0


def test_export_figure_and_numbers(cmp, tmp_path):
    png = cmp.export_png(tmp_path / "fig.png", dpi=100)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    out = cmp.export_csv(tmp_path / "n.csv")
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["patchcore", "padim"]
    for r, (_d, res) in zip(rows, cmp.cache[cmp.state.clip_path], strict=True):
        assert float(r["raw clip score"]) == pytest.approx(res.clip_score, rel=1e-5)
        assert float(r["spec. AUROC"]) > 0.5


def test_models_on_another_front_end_unlink_frequency(cmp):
    spec = cmp.cache[cmp.state.clip_path][0][0]
    other = spec.freqs[:-1]
    assert not same_rows([spec.freqs, other])
    cmp.view.link_frequency(False)
    assert cmp.view.panes[1].plot.getViewBox().linkedView(1) is None


def test_main_window_opens_the_comparison_with_its_model(qtbot, window, tiny_dataset, model_path):
    with qtbot.waitSignal(window.state.model_changed, timeout=TIMEOUT):
        window.controller.load_model(model_path)
    window.controller.open_folder(tiny_dataset)
    win = window.open_compare()
    qtbot.addWidget(win)
    assert len(win.entries) == 1 and win.entries[0].model is window.state.model
    qtbot.waitUntil(lambda: win.state.clip_path is not None, timeout=TIMEOUT)


def test_fit_from_the_view_adds_a_pane(qtbot, cmp, tiny_dataset):
    job = cmp.fit(tiny_dataset, "padim", "aisfx", {"detector.n_features": "50"})
    qtbot.waitUntil(lambda: len(cmp.entries) == 3, timeout=TIMEOUT)
    assert job is not None and cmp.entries[2].model.method == "padim"
    assert cmp.entries[2].model.calibration is not None
    qtbot.waitUntil(lambda: len(cmp.view.panes) == 3 and cmp.state.clip_path in cmp.cache,
                    timeout=TIMEOUT)
    assert len(cmp.cache[cmp.state.clip_path]) == 3
