"""What the window's commands do: open, score, load, fit, save — off the GUI thread when slow.

The controller is the only writer of :class:`AppState`. Clip requests keep only the latest: at
most one clip job runs, one waits (newer requests replace it), and a result that is no longer
the latest request is dropped. One long task (fit, model loading, the demo) runs at a time,
reported by ``task_*`` signals that the status bar shows.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from specview import datasets, demo_cache, pipeline
from specview.annotations import SidecarState, load_sidecar, sidecar_path
from specview.audio import AUDIO_SUFFIXES, audio_info, load_audio
from specview.encoders.aisfx import AisfxParams, aisfx_front_end
from specview.errors import DatasetError, SpecviewError
from specview.gui.long_controller import LongController
from specview.gui.long_recording import long_info
from specview.gui.state import AppState, summary
from specview.gui.workers import Job, Runner, warm_imports
from specview.results import ClipResult, score_clips
from specview.spectrogram import MelFrontEnd, display_spectrogram
from specview.types import AnomalyResult, Box, Progress, Spectrogram

MODEL_SUFFIX = ".safetensors"
#: Results kept per model so that switching clips and dataset scores need no rescoring.
MAX_CACHED_RESULTS = 2000


def default_front_end() -> MelFrontEnd:
    """The display grid used before a model is loaded: the default encoder's, so a model loaded
    later scores onto the very same grid."""
    return aisfx_front_end(AisfxParams().hop_length)


@dataclass(frozen=True)
class ClipData:
    """What a clip job returns."""

    path: Path
    display: Spectrogram
    result: AnomalyResult | None
    boxes: list[Box]
    boxes_error: str = ""
    sample_rate: int = 0
    sidecar: SidecarState | None = None


def read_clip(path: Path, model: pipeline.Model | None, *,
              label_column: str | None = None) -> ClipData:
    """Load (and score, with a model) one recording and its sidecar; runs in a worker thread.

    A sidecar that cannot be parsed does not hide the clip: it comes back as ``boxes_error``
    and is left untouched on disk.
    """
    if model is not None:
        scored = model.score_file(path)
        display, result = scored.display, scored.result
    else:
        fe = default_front_end()
        display, result = display_spectrogram(load_audio(path, sr=fe.sr), fe), None
    side = load_sidecar(path, label_column=label_column)
    sr = audio_info(path)[0]
    return ClipData(path, display, result, side.boxes, side.error or "", sr, side)


def folder_as_dataset(folder: Path) -> datasets.Dataset:
    """A dataset folder as it is, or a plain folder of recordings as unlabelled test clips."""
    if datasets.is_dataset(folder):
        subsets = datasets.dataset_subsets(folder)
        if len(subsets) <= 1:
            return datasets.load_dataset(folder)
        # several machine ids / SNRs (MIMII, DCASE): browse all their test clips together
        parts = datasets.load_datasets(folder)
        return datasets.Dataset(root=folder, train=[], test=[c for d in parts for c in d.test],
                                name=f"{len(parts)} subsets", channel=parts[0].channel)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder")
    clips = []
    for p in datasets.list_audio(folder):
        side = sidecar_path(p)
        clips.append(datasets.TestClip(p, None, side if side.is_file() else None))
    if not clips:
        raise DatasetError(
            f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) and no train/ or test/ inside"
        )
    return datasets.Dataset(root=folder, train=[], test=clips)


class Controller(QObject):
    """Carries out the window's commands.

    Signals
    -------
    error(str, str)
        ``(title, message)`` for the user; the state is unchanged.
    status(str)
        A short message for the status bar.
    clip_busy(bool)
        A clip is being read/scored in the background.
    task_started(str, bool)
        A long task began: ``(description, cancellable)``.
    task_progress(int, int)
    task_ended(str, str)
        ``(outcome, message)`` with outcome ``"done"``, ``"cancelled"`` or ``"failed"``.
    sidecar_unreadable(Path, str)
        The clip on screen has a sidecar that could not be read (kept untouched; the clip's
        boxes are read-only until the user decides).
    """

    error = Signal(str, str)
    status = Signal(str)
    sidecar_unreadable = Signal(object, str)
    clip_busy = Signal(bool)
    task_started = Signal(str, bool)
    task_progress = Signal(int, int)
    task_ended = Signal(str, str)

    def __init__(self, state: AppState, parent: QObject | None = None, *,
                 device: str = "cpu") -> None:
        super().__init__(parent)
        self.state = state
        self.device = device
        self.runner = Runner(self)
        warm_imports()  # what first use would import on the GUI thread, off it
        self.task: Job | None = None
        self._clip_job: Job | None = None
        self._clip_pending: tuple[int, Path] | None = None
        self._clip_running: Path | None = None
        self._clip_seq = 0
        #: clip path -> AnomalyResult under the current model (least recently used dropped)
        self.results: OrderedDict[Path, AnomalyResult] = OrderedDict()
        state.model_changed.connect(self.results.clear)
        state.model_changed.connect(self._rescore)
        #: Recordings longer than ``longscore.LONG_SECONDS``: an overview and a span at a time.
        self.long = LongController(self, default_front_end)

    # -- clips ------------------------------------------------------------------------------
    def open_clip(self, path: str | Path) -> None:
        """Show a recording (scored when a model is loaded); newer requests win. A recording
        longer than ``longscore.LONG_SECONDS`` is paged through (:class:`LongController`)."""
        path = Path(path)
        self._clip_seq += 1
        info = long_info(path)
        if info is not None:
            self._clip_pending = None
            self.long.open(path, info)
            return
        self._clip_pending = (self._clip_seq, path)
        if self._clip_job is None:
            self._start_pending_clip()

    def _start_pending_clip(self) -> None:
        if self._clip_pending is None:
            self.clip_busy.emit(False)
            return
        seq, path = self._clip_pending
        self._clip_pending = None
        model, col = self.state.model, self.state.label_column
        job = Job(lambda _p: read_clip(path, model, label_column=col), name=f"reading {path.name}",
                  cancellable=False, parent=self)
        job.succeeded.connect(lambda data: self._clip_done(seq, model, data))
        job.failed.connect(lambda exc: self._clip_failed(seq, path, exc))
        job.finished.connect(self._clip_finished)
        self._clip_job, self._clip_running = job, path
        self.clip_busy.emit(True)
        self.status.emit(f"{'Scoring' if model else 'Reading'} {path.name}…")
        self.runner.start(job)

    def _clip_finished(self) -> None:
        self._clip_job, self._clip_running = None, None
        self._start_pending_clip()

    def _clip_done(self, seq: int, model: pipeline.Model | None, data: ClipData) -> None:
        if seq != self._clip_seq or model is not self.state.model:
            return  # stale: a newer request or another model superseded it
        if self.state.long is not None:
            self.long.close()  # this clip replaces the long recording on screen
        if data.result is not None:
            self.remember(data.path, data.result)
            self.state.add_scores({data.path: summary(data.result, model)})
        self.state.sample_rate = data.sample_rate
        self.state.sidecar = data.sidecar
        self.state.set_clip(data.path, data.display, data.result, data.boxes,
                            editable=not data.boxes_error)
        msg = f"{data.path.name}: {data.display.duration:.2f} s"
        if data.result is not None:
            sc = summary(data.result, model)
            msg += (f", peak {sc.text()} flag threshold: {sc.verdict}" if sc.peak is not None
                    else f", clip score {sc.text()}")
        others = data.sidecar.other_files if data.sidecar is not None else {}
        if others:
            n = sum(others.values())
            msg += (f"; its table also holds {n} box(es) of {len(others)} other recording(s) "
                    f"({', '.join(sorted(others)[:3])}{'…' if len(others) > 3 else ''}), kept")
        above = [b for b in data.boxes if b.f1 > data.display.freqs[-1]]
        if above:
            msg += (f"; {len(above)} box(es) reach above the analysed band "
                    f"({data.display.freqs[-1]:.0f} Hz) and are kept as drawn")
        self.status.emit(msg)
        if data.boxes_error:
            self.sidecar_unreadable.emit(data.path, data.boxes_error)

    def remember(self, path: Path, result: AnomalyResult) -> None:
        self.results[Path(path)] = result
        self.results.move_to_end(Path(path))
        while len(self.results) > MAX_CACHED_RESULTS:
            self.results.popitem(last=False)

    def _clip_failed(self, seq: int, path: Path, exc: BaseException) -> None:
        if seq != self._clip_seq:
            return
        self.error.emit(f"Cannot open {path.name}", _describe(exc))

    def _rescore(self) -> None:
        """A new model invalidates the result on screen: clear it and score the clip again."""
        if self.state.result is not None:
            self.state.set_result(None)
        if self._clip_pending is not None:
            return  # not started yet: it will be read with the new model
        # the clip the user asked for last: the one being read now (its result will be dropped
        # as scored by the old model) or else the one on screen
        lr = self.state.long
        target = self._clip_running or (lr.path if lr is not None else self.state.clip_path)
        if target is not None:
            self.open_clip(target)

    # -- folders, datasets, dropped paths ---------------------------------------------------
    def open_folder(self, folder: str | Path) -> bool:
        """Open a dataset (train/ and test/) or a plain folder of recordings; a long
        recording's store (``specview score``'s ``long/<stem>.zarr``) opens its recording."""
        if (Path(folder) / "zarr.json").is_file():
            self.long.open_store(Path(folder))
            return True
        try:
            ds = folder_as_dataset(Path(folder))
        except SpecviewError as exc:
            self.error.emit("Cannot open folder", str(exc))
            return False
        self.state.set_dataset(ds)
        self.status.emit(f"{ds.root.name}: {len(ds.train)} training, {len(ds.test)} test clips")
        return True

    def open_path(self, path: str | Path) -> None:
        """Open whatever a path is: a model file, a folder, or a recording."""
        p = Path(path)
        if p.suffix.lower() == MODEL_SUFFIX:
            self.load_model(p)
        elif p.is_dir():
            self.open_folder(p)
        else:
            self.open_clip(p)

    # -- long tasks --------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.task is not None

    def start_task(self, fn: Any, description: str, on_done: Any, *,
                    cancellable: bool = True, preemptible: bool = False,
                    on_stopped: Any = None) -> Job | None:
        """Run ``fn`` as the long task; ``on_done(result)`` when it succeeds.

        A ``preemptible`` task (a long recording's background work) gives way to any other:
        it is cancelled silently (``on_stopped("preempted")``) and the other starts at once.
        ``on_stopped`` is also told ``"cancelled"`` or ``"failed"``.
        """
        if self.task is not None:
            if not getattr(self.task, "preemptible", False):
                self.error.emit("Busy", f"Wait for “{self.task.name}” to finish or cancel it.")
                return None
            old, self.task = self.task, None
            old.preempted = True
            old.cancel()
        job = Job(fn, name=description, cancellable=cancellable, parent=self)
        job.preemptible, job.preempted = preemptible, False
        job.progressed.connect(lambda d, t: self.task is job and self.task_progress.emit(d, t))

        def stopped(how: str) -> None:
            if on_stopped is not None:
                on_stopped("preempted" if job.preempted else how)

        def failed(exc: BaseException) -> None:
            self._end_task(job)
            if not job.preempted:
                self._task_failed(description, exc)
            stopped("failed")

        def cancelled() -> None:
            self._end_task(job)
            if not job.preempted:
                self.task_ended.emit("cancelled", f"{description}: cancelled")
            stopped("cancelled")

        # the task slot frees before the outcome is handled, so a handler (or whoever waits on
        # its signals) may start the next task at once
        job.succeeded.connect(lambda out: (self._end_task(job), on_done(out)))
        job.failed.connect(failed)
        job.cancelled.connect(cancelled)
        self.task = job
        self.task_started.emit(description, cancellable)
        self.runner.start(job)
        return job

    def _end_task(self, job: Job) -> None:
        if self.task is job:
            self.task = None

    def _task_failed(self, description: str, exc: BaseException) -> None:
        self.error.emit(f"{description} failed", _describe(exc))
        self.task_ended.emit("failed", f"{description}: failed")

    def cancel_task(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def load_model(self, path: str | Path) -> Job | None:
        """Load a ``.safetensors`` model in the background."""
        path = Path(path)

        def done(model: pipeline.Model) -> None:
            self.state.set_model(model, path)
            self.task_ended.emit("done", f"Model {path.name} loaded")

        return self.start_task(
            lambda _p: pipeline.load_model(path, device=self.device), f"Loading model {path.name}",
            done, cancellable=False,
        )

    def fit(self, folder: str | Path, *, method: str | None = None, encoder: str | None = None,
            overrides: dict[str, str] | None = None) -> Job | None:
        """Fit a model on a folder's normal recordings (a dataset's ``train/``)."""
        folder = Path(folder)
        kw: dict[str, Any] = {"overrides": overrides or None, "device": self.device}
        if method:
            kw["method"] = method
        if encoder:
            kw["encoder"] = encoder

        def work(progress: Progress) -> pipeline.Model:
            model = pipeline.build(**kw)

            def on_epoch(entry: dict) -> None:
                # trained methods (CFA, STFPM) report each epoch's losses as they come
                self.status.emit(f"{model.method}: epoch {entry['epoch']}, "
                                 f"loss {entry['train_loss']:.4g}")

            return pipeline.fit(folder, progress=progress, model=model, on_epoch=on_epoch)

        def done(model: pipeline.Model) -> None:
            self.state.set_model(model, None)
            if self.state.dataset is None and datasets.is_dataset(folder):
                self.open_folder(folder)
            n = model.info.get("n_train_clips", "?")
            self.task_ended.emit("done", f"Fitted {model.method} on {n} clips from {folder.name}")

        return self.start_task(work, f"Fitting on {folder.name}", done)

    def start_demo(self) -> Job | None:
        """Prepare the demo (generated and fitted once, then cached), then show an anomaly."""

        def work(progress: Progress) -> tuple[datasets.Dataset, pipeline.Model, Path]:
            data, model_path = demo_cache.ensure_demo(progress=progress)
            return datasets.load_dataset(data), pipeline.load_model(model_path), model_path

        def done(out: tuple[datasets.Dataset, pipeline.Model, Path]) -> None:
            ds, model, model_path = out
            self.state.set_dataset(ds)
            self.state.set_model(model, model_path)
            first = next((c.path for c in ds.test if c.label == 1), None)
            if first is None and ds.test:
                first = ds.test[0].path
            if first is not None:
                self.open_clip(first)
            self.task_ended.emit("done", f"Demo ready: {ds.root}")
            # rank the demo's clips at once: fills the list's scores and the shared colour scale
            self.score_all()

        return self.start_task(work, "Preparing the demo (first run: generating data and "
                                "fitting, cached afterwards)", done)

    def score_all(self) -> Job | None:
        """Score every test clip of the open dataset with the current model (cancellable)."""
        model, ds = self.state.model, self.state.dataset
        if model is None or ds is None or not ds.test:
            self.error.emit("Nothing to score", "Open a folder or dataset and load or fit a model.")
            return None
        paths = [c.path for c in ds.test]
        cached = dict(self.results)
        skipped: list[str] = []

        def work(progress: Progress) -> tuple[list[ClipResult], list[str]]:
            # a long recording is never scored whole: opened, it is scored in a stream
            clips = [c for c in ds.test if long_info(c.path) is None]
            skipped.extend(c.path.name for c in ds.test if c not in clips)
            return score_clips(model, clips, known=cached, progress=progress)

        def done(out: tuple[list[ClipResult], list[str]]) -> None:
            results, failed = out
            if skipped:
                failed = [*failed, *(f"{n}: a long recording, not scored here (open it to "
                                     "score it in a stream)" for n in skipped)]
            if model is not self.state.model:
                return  # the model changed meanwhile: these scores no longer apply
            for r in results:
                self.remember(r.path, r.result)
            scores = {r.path: summary(r.result, model) for r in results}
            self.state.add_scores(scores)
            self.task_ended.emit("done", f"Scored {len(scores)} clips")
            if failed:
                self.error.emit(f"{len(failed)} clip(s) could not be scored", "\n".join(failed[:20]))

        return self.start_task(work, f"Scoring {len(paths)} clips", done)

    def save_model(self, path: str | Path) -> bool:
        """Write the current model; True on success."""
        if self.state.model is None:
            self.error.emit("No model", "Load or fit a model first.")
            return False
        path = Path(path)
        if path.suffix.lower() != MODEL_SUFFIX:
            path = path.with_name(path.name + MODEL_SUFFIX)
        try:
            self.state.model.save(path)
        except (SpecviewError, OSError) as exc:
            self.error.emit("Cannot save model", _describe(exc))
            return False
        self.state.set_model_path(path)
        self.status.emit(f"Model saved to {path}")
        return True

    def shutdown(self) -> None:
        self._clip_pending = None
        self.long.shutdown()
        self.runner.shutdown()



def _describe(exc: BaseException) -> str:
    """The message of an expected error; the type and traceback of an unexpected one."""
    if isinstance(exc, SpecviewError):
        return str(exc)
    tb = getattr(exc, "__traceback_text__", "")
    return f"Unexpected error ({type(exc).__name__}): {exc}\n\n{tb}".strip()
