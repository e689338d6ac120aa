"""Long-term pictures of a sensor (PNG): LTSA, SPD with percentile curves, band levels over time.

Drawn with the Agg renderer of :mod:`.plots` (a figure per picture, no
pyplot). The LTSA (long-term spectral average) shows the hourly mean HMD
spectrum against time on a logarithmic frequency axis, with a fixed colour
scale per sensor type and unit (:func:`colour_range_db`: the configured
one, else a default), so pictures of different sensors and
months compare at a glance; hours without data are grey.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from . import level_series, spd
from .level_series import NS_PER_S, LevelSeries
from .plots import NO_DATA_COLOUR, _png, line_figure, set_title

PICTURE_VERSION = 1
SIZE_PX = (1000, 460)
LOWEST_HZ = 10.0
DEFAULT_COLOUR_RANGE_DB = {True: (40.0, 110.0), False: (-150.0, -80.0)}
"""The LTSA colour scale where none is configured, by whether the sensor is calibrated: (lowest, highest) dB."""


def colour_range_db(calibrated: bool, configured: tuple[float, float] | None = None) -> tuple[float, float]:
    """The fixed LTSA colour scale (dB re 1 µPa²/Hz calibrated, else re 1 sample unit²/Hz): the ``configured`` one
    (setting ``colour_scales.ltsa`` for the sensor's type, :func:`.colour_scales.colour_scale_db`), else the default
    for the unit."""
    if configured is not None:
        return configured
    return DEFAULT_COLOUR_RANGE_DB[calibrated]


def _datetimes(start_unix_ns: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(int(ns) / NS_PER_S, UTC) for ns in start_unix_ns]


def _time_grid(series: LevelSeries, start_s: int, end_s: int, resolution_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges of ``resolution_s`` over ``[start_s, end_s)`` (ns) and the series' mean square on them (NaN where no
    data)."""
    first = start_s // resolution_s * resolution_s
    edges_ns = np.arange(first, end_s + resolution_s, resolution_s, dtype=np.int64) * NS_PER_S
    grid = np.full((len(edges_ns) - 1, len(series.centre_hz)), np.nan)
    index = np.searchsorted(edges_ns, series.start_unix_ns, side="right") - 1
    inside = (index >= 0) & (index < len(grid))
    grid[index[inside]] = series.mean_square[inside]
    return edges_ns, grid


def ltsa_resolution_s(span_s: float) -> int:
    """The LTSA's time bin for a range of ``span_s``: 1 minute up to 12 hours, 1 hour up to 40 days, 1 day beyond
    (at most 960 columns at hours, 720 at minutes)."""
    if span_s <= 12 * 3600:
        return 60
    return 3600 if span_s <= 40 * 86400 else 86400


def ltsa_png(series: LevelSeries, *, start_s: int, end_s: int, resolution_s: int, unit: str, title: str,
             colour_range: tuple[float, float], small: bool = False) -> bytes:
    """Mean HMD spectral density in bins of ``resolution_s`` (``series`` over the HMD bands, in those bins) as colour,
    time against log frequency."""
    import matplotlib.dates as mdates

    edges_ns, grid = _time_grid(series, start_s, end_s, resolution_s)
    keep = series.centre_hz >= LOWEST_HZ
    centre = series.centre_hz[keep]
    frequency_edges = _band_edges_hz(centre)
    figure = line_figure(SIZE_PX, small)
    axes = figure.add_subplot()
    axes.set_facecolor(NO_DATA_COLOUR)
    mesh = axes.pcolormesh(_datetimes(edges_ns), frequency_edges, level_series.level_db(grid[:, keep]).T,
                           vmin=colour_range[0], vmax=colour_range[1], cmap="viridis", shading="flat")
    axes.set_yscale("log")
    axes.set_ylabel("frequency (Hz)")
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes.xaxis.get_major_locator()))
    set_title(axes, title, small)
    figure.colorbar(mesh, ax=axes, label=f"PSD (dB re {unit})")
    return _png(figure)


def spd_png(histogram: spd.LevelHistogram, centre_hz: np.ndarray, *, unit: str, title: str, bin_db: float = 1.0,
            small: bool = False) -> bytes:
    """The SPD (probability density of level per HMD band, colour) with the p1, p5, p50, p95, p99 curves and the
    linear mean, against log frequency."""
    keep = centre_hz >= LOWEST_HZ
    histogram, centre = histogram.bands(np.flatnonzero(keep)), centre_hz[keep]
    edges, density = spd.density(histogram, bin_db)
    levels = spd.percentiles(histogram)
    frequency_edges = _band_edges_hz(centre)
    figure = line_figure(SIZE_PX, small)
    axes = figure.add_subplot()
    shown = np.where(density > 0, density, np.nan).T
    mesh = axes.pcolormesh(frequency_edges, edges, shown, cmap="magma_r", shading="flat")
    for percent, style in ((1, ":"), (5, "--"), (50, "-"), (95, "--"), (99, ":")):
        axes.plot(centre, levels[:, spd.PERCENTILES.index(percent)], style, color="tab:blue", lw=1, label=f"p{percent}")
    axes.plot(centre, spd.mean_db(histogram), "-", color="tab:green", lw=1, label="mean (linear)")
    axes.set_xscale("log")
    axes.set_xlabel("frequency (Hz)")
    axes.set_ylabel(f"PSD (dB re {unit})")
    axes.legend(fontsize=8, loc="upper right", ncols=3)
    set_title(axes, title, small)
    figure.colorbar(mesh, ax=axes, label="probability density (1/dB)")
    return _png(figure)


def levels_png(times_ns: np.ndarray, levels_db: np.ndarray, names: list[str], *, unit: str, title: str,
               small: bool = False) -> bytes:
    """Band levels (columns of ``levels_db``) against time, one line per band."""
    import matplotlib.dates as mdates

    figure = line_figure(SIZE_PX, small)
    axes = figure.add_subplot()
    when = _datetimes(times_ns)
    for column, name in enumerate(names):
        axes.plot(when, levels_db[:, column], ".-", ms=2, lw=0.8, label=name)
    axes.set_ylabel(f"level (dB re {unit})")
    axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes.xaxis.get_major_locator()))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="upper right", ncols=min(len(names), 6))
    set_title(axes, title, small)
    return _png(figure)


def _band_edges_hz(centre_hz: np.ndarray) -> np.ndarray:
    """Cell edges for bands drawn at ``centre_hz`` (log axis): the geometric means of neighbours, the ends at the end
    centres."""
    return np.concatenate([[centre_hz[0]], np.sqrt(centre_hz[1:] * centre_hz[:-1]), [centre_hz[-1]]])
