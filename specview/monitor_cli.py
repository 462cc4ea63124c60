"""``specview monitor`` (issue 16): live audio (a device, or a recording replayed) scored
continuously, its events saved and alerted (:mod:`specview.monitor`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from specview.cli_commands import _dataset_channel
from specview.errors import SpecviewError
from specview.fileio import check_output_folder


def cmd_monitor(args: argparse.Namespace) -> int:
    """Score live audio (a device, or a recording replayed), save and alert its events."""
    if args.list_devices:
        import sounddevice as sd

        print(sd.query_devices())
        return 0
    for name in ("model", "input", "out"):
        if getattr(args, name) is None:
            raise SpecviewError(f"--{name} is required (or --list-devices)")
    if (args.mqtt is None) != (args.topic is None):
        raise SpecviewError("--mqtt HOST:PORT and --topic T go together")
    if (args.record is None) != (args.record_max_mb is None):
        raise SpecviewError("--record DIR and --record-max-mb N go together")
    import os
    import signal
    import threading

    from specview import alerts, pipeline
    from specview.live import live_plan
    from specview.livesources import DeviceSource, FileSource
    from specview.monitor import Monitor, MonitorSettings, Recorder

    path = Path(args.input)
    is_file = path.is_file()
    if not is_file and path.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3", ".aif",
                                               ".aiff"):
        raise SpecviewError(f"--input {args.input}: no such file")
    inputs = [args.model, *([args.input] if is_file else [])]
    check_output_folder(args.out, inputs=inputs)
    if args.record is not None:
        check_output_folder(args.record, inputs=inputs, what="--record")
    speed = 1.0
    if args.speed is not None:
        if not is_file:
            raise SpecviewError("--speed is for a replayed file, not a device")
        speed = 0.0 if args.speed.lower() in ("0", "max") else float(args.speed)
        if not (speed >= 0 and speed != float("inf")):
            raise SpecviewError(f"--speed {args.speed}: give a number >= 0, or max")
    import torch

    torch.set_num_threads(args.threads or 1)
    model = pipeline.load_model(args.model, device="cpu")
    ch = _dataset_channel(args)
    if is_file:
        model.check_recording(path)
    settings = MonitorSettings(
        per_hour=args.false_flags_per_hour, pre_roll=args.pre_roll, post_roll=args.post_roll,
        hold=args.hold, release=args.release, min_seconds=args.min_duration,
        max_event=args.max_event, max_per_hour=args.max_events_per_hour, channel=ch,
        status_every=args.status_every,
        plan=live_plan(model, core_seconds=args.core, right_cells=args.right_cells))
    stop = threading.Event()

    def log(line: str) -> None:
        import time

        print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)

    if is_file:
        source = FileSource(path, speed=speed, stop=stop)
    else:
        device: object = args.input
        if args.input in ("default", ""):
            device = None
        elif args.input.isdigit():
            device = int(args.input)
        source = DeviceSource(device, samplerate=args.samplerate, channels=args.channels,
                              stop=stop, log=log)
    sinks: list = []
    try:
        if args.mqtt is not None:
            host, port = alerts.parse_host_port(args.mqtt)
            sinks.append(alerts.MqttSink(host, port, args.topic, qos=args.mqtt_qos, log=log))
        if args.webhook is not None:
            sinks.append(alerts.WebhookSink(args.webhook, log=log))
        recorder = (Recorder(args.record, args.record_max_mb, log=log)
                    if args.record is not None else None)
        monitor = Monitor(model, args.out, model_name=str(args.model),
                          input_name=getattr(source, "name", args.input), settings=settings,
                          sinks=sinks, recorder=recorder, log=log)

        def on_signal(signum, frame) -> None:
            log(f"{signal.Signals(signum).name}: closing the open event and stopping")
            monitor.stop()
            stop.set()

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        p = settings.plan
        core, _, right = p.seconds(model.encoder.front_end)
        log(f"monitoring {getattr(source, 'name', args.input)} ({source.sr} Hz, "
            f"{source.channels} channel(s)"
            + (f", replayed at {'full speed' if not speed else f'{speed:g}x'}" if is_file
               else "") + f") with {args.model}: windows of {core:.2f} s + {right:.2f} s "
            f"ahead, threshold for {monitor._per_hour():g} false flags per hour; events in "
            f"{args.out} (pid {os.getpid()})")
        try:
            summary = monitor.run(source)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
    finally:
        for sink in sinks:
            if not sink.close(timeout=10.0):
                log(f"{sink.name}: some messages were not delivered")
    print(f"{Path(args.out)}: {summary.events} event(s) saved, {summary.alerts} alerted, "
          f"{summary.suppressed} over the rate limit; {summary.audio_seconds:.1f} s of audio "
          f"in {summary.wall_seconds:.1f} s, CPU {summary.cpu_per_second:.3f} s per s of "
          f"audio; {summary.gaps} gap(s) ({summary.gap_seconds:.2f} s)"
          + ("; stopped by a signal" if summary.stopped else ""))
    return 0
