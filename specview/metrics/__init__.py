"""Evaluation metrics for clip-level scores and anomaly maps on spectrogram grids.

Core module: numpy and scipy only.

Submodules, all re-exported here:

* :mod:`specview.metrics.ranking`: ROC, AUROC, partial AUC, AP and best F1 of scores.
* :mod:`specview.metrics.truth`: ground-truth masks from boxes or from an anomaly's energy.
* :mod:`specview.metrics.maps`: cell-level metrics of anomaly maps, AU-PRO, AUPIMO, temporal
  metrics, continuous ground truth.
* :mod:`specview.metrics.cells`: the same cell-level metrics from a small table per clip
  (each distinct score with its counts), pooled over clips without pooling their cells.
* :mod:`specview.metrics.regions`: flagged regions and events, box IoU, matching and box scores.

Conventions
-----------
* Higher score = more anomalous; a threshold ``t`` predicts "anomalous" for ``score >= t``.
* Ranking metrics are computed exactly over the sorted unique score values, so tied scores move
  together (a tie between a positive and a negative gives a diagonal ROC segment).
* Labels are booleans or the numbers 0 and 1.
* Every function raises :class:`specview.errors.ParameterError` for bad shapes or values
  (non-finite scores, a missing class, mismatched arrays), echoing what it received.
"""

from specview.metrics.cells import (
    ClipCells,
    aupimo_summary,
    aupro_cells,
    cell_metrics,
    clip_cells,
    mse_cells,
    pro_points,
    roc_points,
)
from specview.metrics.maps import (
    aupimo,
    aupro,
    map_mse,
    minmax01,
    pro_curve,
    set_normalise,
    spectrogram_metrics,
    temporal_metrics,
    temporal_scores,
)
from specview.metrics.ranking import (
    average_precision,
    best_f1,
    clip_metrics,
    partial_auc,
    roc_auc,
    roc_curve,
)
from specview.metrics.regions import BAND_ENERGY as BAND_ENERGY
from specview.metrics.regions import MERGE_GAP_S as MERGE_GAP_S
from specview.metrics.regions import MIN_EXCESS as MIN_EXCESS
from specview.metrics.regions import RELATIVE_LEVEL as RELATIVE_LEVEL
from specview.metrics.regions import (
    box_iou,
    box_metrics,
    box_truth_metrics,
    flagged_regions,
    match_boxes,
)
from specview.metrics.regions import event_regions as event_regions
from specview.metrics.regions import row_position as row_position
from specview.metrics.truth import boxes_to_mask, energy_mask

__all__ = [
    "roc_auc",
    "partial_auc",
    "average_precision",
    "best_f1",
    "clip_metrics",
    "boxes_to_mask",
    "energy_mask",
    "spectrogram_metrics",
    "aupro",
    "aupimo",
    "temporal_scores",
    "temporal_metrics",
    "roc_curve",
    "pro_curve",
    "map_mse",
    "set_normalise",
    "minmax01",
    "flagged_regions",
    "box_iou",
    "match_boxes",
    "box_metrics",
    "box_truth_metrics",
    "ClipCells",
    "clip_cells",
    "cell_metrics",
    "roc_points",
    "pro_points",
    "aupro_cells",
    "aupimo_summary",
    "mse_cells",
]
