"""Pictures of the acoustic data as PNG bytes: PSD, spectrogram, band levels over time.

matplotlib's object-oriented API with the Agg renderer only (a
``matplotlib.figure.Figure`` per picture, no pyplot and no global state), so
pictures can be made in any thread of a server. Levels come in linear
(sample unit)^2/Hz and are drawn in dB plus ``offset_db`` (the calibration
offset, one number or one per frequency of the levels, 0 when uncalibrated); ``unit`` names the resulting dB unit on the
axes. matplotlib is imported on first use, so that a server worker boots
without it.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from .bands import Band
from .psd import Psd, to_db
from .spectrogram import Spectrogram

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100
PSD_SIZE_PX = (1000, 500)
SPECTROGRAM_SIZE_PX = (1000, 450)
BAND_LEVELS_SIZE_PX = (1000, 420)
THUMBNAIL_SIZE_PX = (320, 160)
SMALL_SIZE_PX = (480, 340)
"""The ``small`` line pictures, for phone width: the same fonts on less than half the width, no title (the page says it)."""
THUMBNAIL_AXES = (0.13, 0.18, 0.81, 0.79)
# where the spectrogram's data area sits in the picture, as fractions of its
# width and height from the lower left corner: (left, bottom, width, height);
# a web page maps a click on the picture to a time with it
SPECTROGRAM_AXES = (0.075, 0.12, 0.8, 0.74)
_COLORBAR_AXES = (0.89, 0.12, 0.018, 0.74)
COLOUR_PERCENTILES = (1.0, 99.9)
NO_DATA_COLOUR = "#c8c8c8"


def _figure(size_px: tuple[int, int], **kwargs) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI, **kwargs)
    FigureCanvasAgg(figure)
    return figure


def line_figure(size_px: tuple[int, int], small: bool) -> Figure:
    """A figure of ``size_px`` with constrained layout, or of :data:`SMALL_SIZE_PX` when ``small``."""
    return _figure(SMALL_SIZE_PX if small else size_px, layout="constrained")


def set_title(axes, title: str, small: bool) -> None:
    """The picture's title, left out of a small picture (its page states it)."""
    if not small:
        axes.set_title(title, fontsize=10)


def _png(figure: Figure) -> bytes:
    import matplotlib

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": f"hydroserve (matplotlib {matplotlib.__version__})"})
    return buffer.getvalue()


def psd_png(result: Psd, *, offset_db: float | np.ndarray, unit: str, title: str, log_frequency: bool = False,
            small: bool = False) -> bytes:
    """The PSD statistics against frequency up to Nyquist: the mean, the median, the 75 % quantile
    and the median-to-95 % band; linear frequency in kHz, or logarithmic in Hz from the first bin above 0 Hz."""
    figure = line_figure(PSD_SIZE_PX, small)
    axes = figure.add_subplot()
    above_dc = slice(1, None)  # 0 Hz holds only what the detrending left: not drawn
    scale = 1.0 if log_frequency else 1e-3
    frequency = result.frequency_hz[above_dc] * scale
    level = {name: to_db(getattr(result, name)[above_dc]) + np.broadcast_to(offset_db, result.frequency_hz.shape)[above_dc] for name in ("mean", "median", "p75", "p95")}
    axes.fill_between(frequency, level["median"], level["p95"], color="#9ecae1", alpha=0.6, linewidth=0,
                      label="median to 95 % quantile")
    axes.plot(frequency, level["p75"], color="#3182bd", linewidth=0.8, linestyle="--", label="75 % quantile")
    axes.plot(frequency, level["median"], color="#08519c", linewidth=1.0, label="median")
    axes.plot(frequency, level["mean"], color="#d94801", linewidth=1.0, label="mean (Welch)")
    nyquist = result.frequency_hz[-1] * scale
    if log_frequency:
        axes.set_xscale("log")
        axes.set_xlim(frequency[0], nyquist)
        axes.set_xlabel("Frequency (Hz)")
    else:
        axes.set_xlim(0, nyquist)
        axes.set_xlabel("Frequency (kHz)")
    axes.set_ylabel(f"PSD ({unit})" if small else f"Power spectral density ({unit})")
    set_title(axes, title, small)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper right", fontsize=7 if small else 9)
    return _png(figure)


def colour_range_db(levels_db: np.ndarray) -> tuple[float, float]:
    """Whole-dB colour range from the ``COLOUR_PERCENTILES`` of the finite levels."""
    finite = levels_db[np.isfinite(levels_db)]
    if finite.size == 0:
        raise ValueError("no finite level to scale the colours to")
    low, high = np.percentile(finite, COLOUR_PERCENTILES)
    low, high = float(np.floor(low)), float(np.ceil(high))
    return low, max(high, low + 1)


def _levels_db(spectrogram: Spectrogram, offset_db: float | np.ndarray) -> np.ndarray:
    """The spectrogram's rows above 0 Hz in dB, plus the calibration offset (one number, or one per frequency)."""
    return to_db(spectrogram.power[1:]) + np.broadcast_to(offset_db, spectrogram.frequency_hz.shape)[1:, None]


def spectrogram_png(spectrogram: Spectrogram, *, offset_db: float | np.ndarray, unit: str, title: str,
                    fixed_range_db: tuple[float, float] | None = None) -> bytes:
    """Time against frequency up to Nyquist, colour = PSD in dB; columns without data in grey. The colours span
    ``fixed_range_db`` (low, high) when given (levels outside take the end colours), else the picture's own
    :func:`colour_range_db`."""
    import matplotlib
    from matplotlib.patches import Patch

    figure = _figure(SPECTROGRAM_SIZE_PX)
    axes = figure.add_axes(SPECTROGRAM_AXES)
    colorbar_axes = figure.add_axes(_COLORBAR_AXES)
    levels = _levels_db(spectrogram, offset_db)
    low, high = colour_range_db(levels) if fixed_range_db is None else fixed_range_db
    resolution_khz = spectrogram.frequency_hz[1] / 1e3
    colours = matplotlib.colormaps["viridis"].with_extremes(bad=NO_DATA_COLOUR)
    image = axes.imshow(
        np.ma.masked_invalid(levels), origin="lower", aspect="auto", interpolation="nearest", cmap=colours,
        vmin=low, vmax=high,
        extent=(0, spectrogram.duration_s, resolution_khz / 2, spectrogram.frequency_hz[-1] / 1e3 + resolution_khz / 2),
    )
    colorbar = figure.colorbar(image, cax=colorbar_axes)
    colorbar.set_label(f"PSD ({unit})")
    axes.set_xlabel("Time from the start of the package window (s)")
    axes.set_ylabel("Frequency (kHz)")
    low_pct, high_pct = COLOUR_PERCENTILES
    scale = "fixed" if fixed_range_db is not None else f"auto: percentiles {low_pct:g} and {high_pct:g}"
    axes.set_title(
        f"{title}\ncolour range {low:g} to {high:g} dB ({scale}); "
        f"nfft {spectrogram.nfft} (Δf {resolution_khz * 1e3:.0f} Hz), {spectrogram.column_s:.3g} s per column",
        fontsize=9,
    )
    if not spectrogram.segments_per_column.all():
        axes.legend(handles=[Patch(color=NO_DATA_COLOUR, label="no data (gap)")], loc="upper right", fontsize=8)
    return _png(figure)


def spectrogram_thumbnail_png(spectrogram: Spectrogram, *, offset_db: float | np.ndarray,
                              fixed_range_db: tuple[float, float] | None = None) -> bytes:
    """A small spectrogram for a strip of many (THUMBNAIL_SIZE_PX): time in s and frequency in kHz on small axes, no
    title and no colour bar (the page states the scale); colours as :func:`spectrogram_png`'s."""
    import matplotlib
    from matplotlib.ticker import MaxNLocator

    figure = _figure(THUMBNAIL_SIZE_PX)
    axes = figure.add_axes(THUMBNAIL_AXES)
    levels = _levels_db(spectrogram, offset_db)
    low, high = colour_range_db(levels) if fixed_range_db is None else fixed_range_db
    resolution_khz = spectrogram.frequency_hz[1] / 1e3
    axes.imshow(
        np.ma.masked_invalid(levels), origin="lower", aspect="auto", interpolation="nearest",
        cmap=matplotlib.colormaps["viridis"].with_extremes(bad=NO_DATA_COLOUR), vmin=low, vmax=high,
        extent=(0, spectrogram.duration_s, resolution_khz / 2, spectrogram.frequency_hz[-1] / 1e3 + resolution_khz / 2),
    )
    axes.xaxis.set_major_locator(MaxNLocator(4))
    axes.yaxis.set_major_locator(MaxNLocator(4))
    axes.tick_params(labelsize=8, length=2, pad=1)
    axes.set_xlabel("s", fontsize=8, labelpad=0)
    axes.set_ylabel("kHz", fontsize=8, labelpad=0)
    return _png(figure)


def band_levels_png(starts: list[datetime], levels_db: np.ndarray, bands: tuple[Band, ...], *, unit: str, title: str,
                    small: bool = False) -> bytes:
    """Band levels (one line per band, ``levels_db`` of shape (n_packages, n_bands)) against package start time."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    figure = line_figure(BAND_LEVELS_SIZE_PX, small)
    axes = figure.add_subplot()
    marker = "o" if len(starts) <= 60 else None
    for index, band in enumerate(bands):
        axes.plot(starts, levels_db[:, index], marker=marker, markersize=3, linewidth=1.2, label=band.label)
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_xlabel("Package start (UTC)" if small else "Start of the package window (UTC)")
    axes.set_ylabel(f"Band-averaged PSD ({unit})")  # a spectral density, not a band SPL (integrated power)
    set_title(axes, title, small)
    axes.grid(True, alpha=0.3)
    if small:
        axes.legend(title="band", fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
    else:
        axes.legend(title="band", fontsize=9, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _png(figure)
