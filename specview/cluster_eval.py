"""Evaluating and comparing on a Dask cluster (issue 17): the same reports as one process.

:func:`evaluate_on_client` is :func:`specview.evaluation.evaluate`'s scoring on a cluster: one
shard per test clip, run on a worker by :func:`specview.cluster_worker.evaluate_clip` (the clip
scored, its isolated sources measured and its faithfulness test run:
:func:`specview.evaluation.evaluate_clip`, the single process's own code), the model file sent
once per worker by :func:`specview.cluster.send_model`. What comes back per clip is what the
single process keeps of it (the result with its extras, the display spectrogram when figures
are drawn, the energy masks and the deletion scores), exactly as computed there; the client
then builds the same :class:`~specview.results.ClipResult` list in the dataset's order and
writes the report as without a cluster.

:func:`submit_fits` / :func:`fitted` are :func:`specview.comparison.compare`'s fits on a
cluster: one task per (subset, encoder, method) pair fits the pair on a worker (the encoder's
training features computed once in that task, as the single process does per encoder) and
returns the model file's bytes; the client writes them as the pair's ``model.safetensors``,
loads them with the safe loader and evaluates the pair on the cluster.

Failures: a shard failing on its input (any specview error: a damaged clip, a training clip
refused) is reported with its file, is not retried, and lets every other shard finish; then
:class:`specview.cluster.ShardErrors` names every failed file, and since the outputs are
staged, nothing is written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from specview.cluster import RETRIES, ShardErrors, forget_model, send_model
from specview.types import Progress


def _run_id() -> str:
    return hashlib.sha256(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:10]


def gather_shards(client: Any, futures: dict[Any, int]) -> Iterator[tuple[int, dict]]:
    """``(shard, result)`` as the shards complete, each once (a retried task's duplicate is
    dropped); a task that raised (its retries spent) gives ``{"error": ...}``."""
    from distributed import as_completed

    got: set[int] = set()
    for fut in as_completed(list(futures)):
        k = futures[fut]
        if fut.status == "error":
            exc = fut.exception()
            res = {"shard": k, "error": f"{type(exc).__name__}: {exc}", "pid": None,
                   "worker": ""}
        else:
            res = fut.result()
        fut.release()
        if k in got:
            continue
        got.add(k)
        yield k, res


def evaluate_on_client(client: Any, model: Any, ds: Any, *, flag_rate: float | None,
                       tau: float, faithfulness: bool, any_sources: bool, display: bool,
                       progress: Progress | None = None,
                       on_shard: Callable[[dict[str, Any]], None] | None = None,
                       retries: int = RETRIES, keep_model: bool = True,
                       clip_fn: Callable[..., tuple]) -> list[tuple]:
    """:func:`specview.evaluation.evaluate_clip` of every test clip of ``ds``, on the workers
    of ``client``; in the dataset's order (``clip_fn``: that function, passed in so that this
    module does not import :mod:`specview.evaluation`). ``model`` is sent as it is (the workers apply
    ``flag_rate`` to its calibration, as the single process does); ``keep_model=False``
    unregisters it from the workers at the end. Raises :class:`ShardErrors` when any clip
    failed on its input (every other clip is scored first)."""
    from specview import cluster_worker as cw
    from specview.audio import audio_info

    key = send_model(client, model)
    run = _run_id()
    clips = list(ds.test)
    futures = {client.submit(cw.evaluate_clip, clip_fn, key, k, clip, ds.channel, flag_rate,
                             tau, faithfulness, any_sources, display,
                             key=f"specview-eval-{run}-{k}", retries=retries, pure=False): k
               for k, clip in enumerate(clips)}
    out: list[tuple | None] = [None] * len(clips)
    failed: dict[int, str] = {}
    try:
        for done, (k, res) in enumerate(gather_shards(client, futures), start=1):
            if "error" in res:
                failed[k] = res["error"]
            else:
                out[k] = res["scored"]
            if progress is not None:
                progress(done, len(clips))
            if on_shard is not None:
                try:
                    seconds = audio_info(clips[k].path)[2]
                except Exception:
                    seconds = 0.0
                on_shard({"shard": k, "file": clips[k].path, "n_shards": len(clips),
                          "audio_seconds": seconds, "seconds": res.get("seconds", 0.0),
                          "pid": res.get("pid"), "worker": res.get("worker", "")})
    finally:
        if not keep_model:
            forget_model(client, key)
    if failed:
        raise ShardErrors([(str(clips[k].path), failed[k]) for k in sorted(failed)])
    return out  # type: ignore[return-value]


def submit_fits(client: Any, pairs: list[dict[str, Any]], *, device: str | None,
                feature_cache_bytes: int, retries: int = RETRIES) -> dict[tuple, Any]:
    """One fit task per pair (``subset``, ``encoder``, ``method``, ``train`` paths,
    ``channel``, ``encoder_overrides``, ``method_overrides``), submitted at once, highest
    priority first in the order given; ``{(subset, encoder, method): future}``."""
    from specview import cluster_worker as cw

    run = _run_id()
    out = {}
    for k, p in enumerate(pairs):
        out[(p["subset"], p["encoder"], p["method"])] = client.submit(
            cw.fit_pair, k, [str(f) for f in p["train"]], p["channel"], p["encoder"],
            p["encoder_overrides"], p["method"], p["method_overrides"], device,
            feature_cache_bytes, key=f"specview-fit-{run}-{k}", retries=retries, pure=False,
            priority=len(pairs) - k)
    return out


def fitted(future: Any, where: str, model_path: Path) -> tuple[Any, float]:
    """The model of a fit task (written to ``model_path``, staged, and loaded with the safe
    loader; its ``info`` as the fit made it) and the seconds of its shared encoder pass.
    Raises :class:`ShardErrors` naming ``where`` when the fit failed on its input."""
    from specview.fileio import atomic_write_bytes
    from specview.pipeline import load_model

    try:
        res = future.result()
    except Exception as exc:  # its retries spent
        res = {"error": f"{type(exc).__name__}: {exc}"}
    future.release()
    if "error" in res:
        raise ShardErrors([(where, res["error"])])
    atomic_write_bytes(model_path, res["model"])
    fd, tmp = tempfile.mkstemp(suffix=".safetensors", prefix="specview-fitted-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(res["model"])
        model = load_model(tmp, device="cpu")
    finally:
        os.unlink(tmp)
    model.info = res["info"]  # key order and types as fit made them (metrics.json shows them)
    return model, float(res["features_seconds"])
