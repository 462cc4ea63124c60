"""``specview render`` and :func:`specview.render.view_figure` (issue 15): the figure has the
requested time and frequency axes, scale and pixel size, in every format."""

from __future__ import annotations

import matplotlib.image as mpimg
import numpy as np
import pytest
import soundfile as sf
from machine_sounds import SR, machine_tone

from specview.display import DisplaySettings
from specview.errors import ParameterError
from specview.render import view_figure, write_figure
from specview.types import Box


@pytest.mark.parametrize("scale", ["linear", "log", "mel"])
def test_view_has_the_requested_axes_and_size(tmp_path, scale):
    x = machine_tone(3.0)
    heat = np.zeros((16, 50), dtype=np.float32)
    heat[8, 25] = 1.5
    fig = view_figure(x, SR, start=10.0, span=(10.5, 12.0),
                      settings=DisplaySettings(scale=scale, fmin=100.0, fmax=8000.0),
                      heat=heat, heat_times=10.0 + np.arange(50) * 0.06,
                      heat_freqs=np.geomspace(150, 7000, 16),
                      boxes=[Box(11.0, 11.5, 500.0, 2000.0)], size_px=(900, 500), dpi=100)
    ax = fig.axes[0]
    assert ax.get_xlim() == pytest.approx((10.5, 12.0))
    assert ax.get_ylim() == pytest.approx((100.0, 8000.0))
    assert ax.get_yscale() == {"linear": "linear", "log": "log", "mel": "function"}[scale]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
    assert len(fig.axes) == 3  # the view and two colour bars (dB, x threshold)
    out = write_figure(fig, tmp_path / "v.png")
    img = mpimg.imread(out)
    assert img.shape[:2] == (500, 900)


def test_render_cli_writes_png_pdf_svg_with_a_model(tmp_path, capsys):
    from specview import cli, pipeline

    train = tmp_path / "train"
    train.mkdir()
    for i in range(4):
        sf.write(train / f"n{i}.wav", machine_tone(3.0, seed=i), SR)
    model = pipeline.fit(train, method="zscore")
    mpath = tmp_path / "z.safetensors"
    model.save(mpath)
    clip = tmp_path / "clip.wav"
    x = machine_tone(4.0, seed=9)
    t = np.arange(int(0.3 * SR)) / SR
    x[2 * SR:2 * SR + t.size] += (0.3 * np.sin(2 * np.pi * 4000 * t)).astype(np.float32)
    sf.write(clip, x, SR)
    (tmp_path / "clip.Table.1.selections.txt").write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tAnnotation\n1\tSpectrogram 1\t1\t2.0\t2.3\t3500\t4500\tbeep\n")
    for suffix in (".png", ".pdf", ".svg"):
        out = tmp_path / f"fig{suffix}"
        code = cli.main(["render", str(clip), "--model", str(mpath), "--start", "1", "--end",
                         "3", "--fmin", "50", "--fmax", "10000", "--fft", "4096", "--scale",
                         "log", "--boxes", "--width", "1000", "--height", "600", "--out",
                         str(out)])
        assert code == 0 and out.stat().st_size > 1000
    assert mpimg.imread(tmp_path / "fig.png").shape[:2] == (600, 1000)
    assert "<svg" in (tmp_path / "fig.svg").read_text()[:500]
    capsys.readouterr()
    # bad requests: one line, exit 2, nothing written
    assert cli.main(["render", str(clip), "--out", str(tmp_path / "x.jpg")]) == 2
    assert cli.main(["render", str(clip), "--fft", "100", "--out", str(tmp_path / "y.png")]) == 2
    assert cli.main(["render", str(clip), "--start", "3", "--end", "2",
                     "--out", str(tmp_path / "z.png")]) == 2
    assert not any((tmp_path / n).exists() for n in ("x.jpg", "y.png", "z.png"))


def test_bad_figure_size_is_refused():
    with pytest.raises(ParameterError, match="figure size"):
        view_figure(machine_tone(1.0), SR, size_px=(10, 10))


def test_render_cli_figure_has_the_requested_span_band_scale_and_page_size(tmp_path,
                                                                          monkeypatch):
    """``specview render --start 1 --end 2.5 --fmin 200 --fmax 6000 --scale mel``: those axes
    exactly, and the page's size in every format (1000 x 600 px at 100 dpi: 720 x 432 pt)."""
    import re

    from specview import cli, render

    clip = tmp_path / "clip.wav"
    sf.write(clip, machine_tone(4.0, seed=3), SR)
    drawn = []
    write = render.write_figure
    monkeypatch.setattr(render, "write_figure", lambda fig, path: (drawn.append(fig),
                                                                   write(fig, path))[1])
    for suffix in (".png", ".svg", ".pdf"):
        out = tmp_path / f"fig{suffix}"
        assert cli.main(["render", str(clip), "--start", "1", "--end", "2.5", "--fmin", "200",
                         "--fmax", "6000", "--scale", "mel", "--fft", "4096", "--width",
                         "1000", "--height", "600", "--dpi", "100", "--out", str(out)]) == 0
        ax = drawn[-1].axes[0]
        assert ax.get_xlim() == pytest.approx((1.0, 2.5))
        assert ax.get_ylim() == pytest.approx((200.0, 6000.0))
        assert ax.get_yscale() == "function" and ax.get_xlabel() == "time (s)"
        ticks = [t for t in ax.get_yticks() if 200 <= t <= 6000]
        assert ticks and all(t in (200, 500, 1000, 2000, 5000) for t in ticks)
    assert mpimg.imread(tmp_path / "fig.png").shape[:2] == (600, 1000)
    head = (tmp_path / "fig.svg").read_text()[:2000]
    assert re.search(r'width="720(\.0+)?pt"', head) and re.search(r'height="432(\.0+)?pt"', head)
    pdf = (tmp_path / "fig.pdf").read_bytes()
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert box and (float(box[1]), float(box[2])) == (720.0, 432.0)
