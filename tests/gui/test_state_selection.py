"""The selected flagged region lives in AppState (issue 13), not in a table's selection."""

from specview.gui.state import AppState
from specview.types import Box, FlaggedRegion


def _regions(n):
    return [FlaggedRegion(Box(float(i), i + 0.5, 100.0, 200.0), 2.0 + i, 4) for i in range(n)]


def test_the_selected_region_is_state_with_a_signal(qtbot):
    st = AppState()
    seen = []
    st.selected_region_changed.connect(lambda: seen.append(st.selected_region))
    st.set_annotations([], flagged=_regions(3))
    assert st.selected_region is None and st.region_in_focus() is None  # three: none in focus
    st.select_region(2)
    assert st.selected_region == 2 and st.region_in_focus() == 2 and seen == [2]
    st.select_region(7)  # out of range: none
    assert st.selected_region is None and seen == [2, None]
    st.select_region(1)
    st.set_annotations([], flagged=_regions(1))  # new regions: the old index means nothing
    assert st.selected_region is None and seen == [2, None, 1, None]
    assert st.region_in_focus() == 0  # the only one


def test_the_box_panel_and_the_listener_read_the_state(qtbot, window, tiny_dataset, model_path):
    """Selecting a row of the flagged table sets the state; the listener's choice follows."""
    with qtbot.waitSignal(window.state.model_changed, timeout=60_000):
        window.controller.load_model(model_path)
    path = tiny_dataset / "test" / "anomaly_000.wav"
    window.controller.open_clip(path)
    qtbot.waitUntil(lambda: window.state.clip_path == path and window.state.result is not None,
                    timeout=60_000)
    st = window.state
    st.set_annotations(st.boxes, flagged=_regions(2))
    window.box_panel.select_flagged(1)
    assert st.selected_region == 1
    assert window.box_panel.selected_flagged() == 1
    assert window.listener._flag_selected() == 1
    st.select_region(0)
    rows = window.box_panel.flag_table.selectionModel().selectedRows()
    assert [r.row() for r in rows] == [0]
