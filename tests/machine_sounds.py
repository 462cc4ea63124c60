"""A synthetic machine-like tone for tests (importable from any test folder)."""

import numpy as np

SR = 44100


def machine_tone(duration: float, sr: int = SR, *, seed: int = 0, f0: float = 27.0) -> np.ndarray:
    """A harmonic rotating-machine-like tone with broadband noise, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration * sr)) / sr
    x = 0.03 * rng.standard_normal(len(t))
    for h in range(1, 12):
        x += 0.08 / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 2 * np.pi))
    return (0.5 * x).astype(np.float32)


def machine_model_and_long_recording(folder):
    """PatchCore fitted on ten 5-s machine clips, and a 185.3-s recording of the same machine
    with a 0.6-s 3 kHz burst at 121 s (across the boundary of the second and third 60-s
    scoring windows), written under ``folder``: ``(model, recording path)``."""
    import soundfile as sf

    from specview import pipeline

    train = folder / "train"
    train.mkdir()
    for i in range(10):
        sf.write(train / f"n{i:02d}.wav", machine_tone(5.0, seed=i), SR)
    model = pipeline.fit(train, method="patchcore", overrides={"coreset_ratio": "0.2"})
    x = machine_tone(185.3, seed=99)
    t = np.arange(int(0.6 * SR)) / SR
    burst = (0.2 * np.sin(2 * np.pi * 3000 * t) * np.hanning(t.size)).astype(np.float32)
    at = int(121.0 * SR)
    x[at:at + burst.size] += burst
    rec = folder / "long.wav"
    sf.write(rec, x, SR, subtype="FLOAT")
    return model, rec
