"""Dask worker preload for the cluster tests: the tiny test encoder, selectable as ``tiny``
(``dask worker --preload tests/cluster_preload.py``, ``LocalCluster(preload=[...])``)."""

from specview.encoders import ENCODERS
from specview.encoders.tiny import TinyEncoder

ENCODERS.setdefault("tiny", TinyEncoder)
