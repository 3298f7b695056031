"""Real time series for forecasting, small enough to ship inside the package.

``MaunaLoaCO2``: the Keeling curve, weekly atmospheric CO2 at Mauna Loa (March 1958 - December
2001), read from a vendored copy of the file (checked against its SHA-256), averaged to months.
``forecast_windows`` turns a series into (past window, next values) pairs for a forecaster.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from deepgrad.data.datasets.files import RemoteFile, data_root, fetch, verify

__all__ = ["MaunaLoaCO2", "forecast_windows"]

_PACKAGED = Path(__file__).resolve().parent


class MaunaLoaCO2:
    """Atmospheric CO2 (ppmv) at Mauna Loa Observatory, Hawaii: weekly averages, 1958-2001.

    Provenance: the weekly series of C.D. Keeling and T.P. Whorf (Scripps Institution of
    Oceanography), "Atmospheric CO2 concentrations derived from continuous air samples at Mauna
    Loa Observatory", distributed by the Carbon Dioxide Information Analysis Center (CDIAC, Oak
    Ridge National Laboratory, U.S. Department of Energy). The CSV is the file
    ``statsmodels/datasets/co2/co2.csv`` of statsmodels 0.15.0, byte for byte (2284 weeks from
    1958-03-29 to 2001-12-29, 59 of them without a value); statsmodels states "This is public
    domain." for this data set. SHA-256 of ``co2.csv``:
    16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f.

    The copy inside the package is used when present; else ``<root>/co2/co2.csv`` (root: the
    argument, else ``$DEEPGRAD_DATA``, else ``~/.cache/deepgrad``), downloaded from statsmodels'
    repository if missing.

    Attributes: ``weeks`` (datetime64[D], the Saturday ending each week), ``weekly`` (float64,
    NaN where the week has no value), ``months`` (datetime64[M], 526 months) and ``monthly``
    (float64: each month's mean of its weekly values; the five months without any, 1958-06,
    1958-10 and 1964-02..04, are interpolated linearly between their neighbours).
    """

    folder = "co2"
    file = RemoteFile(
        "co2.csv",
        "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f",
        ("https://raw.githubusercontent.com/statsmodels/statsmodels/main/statsmodels/datasets/"
         "co2/co2.csv",),
    )
    season = 12  # months in the yearly cycle of the monthly series

    def __init__(self, root: str | os.PathLike | None = None, download: bool = True) -> None:
        packaged = _PACKAGED / self.file.name
        if root is None and packaged.exists():
            path = verify(packaged, self.file.sha256)
        else:
            folder = data_root(root) / self.folder
            (path,) = fetch(type(self).__name__, [self.file], folder, download)
        self.weeks, self.weekly = _read_weekly(path)
        self.months, self.monthly = _monthly_means(self.weeks, self.weekly)

    def __len__(self) -> int:
        return len(self.monthly)

    def __repr__(self) -> str:
        return (f"MaunaLoaCO2(weeks={len(self.weekly)}, months={len(self.monthly)}, "
                f"{self.months[0]}..{self.months[-1]})")


def _read_weekly(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The dates and values of the file's ``date,co2`` rows (YYYYMMDD; an empty value is NaN)."""
    lines = path.read_text(encoding="ascii").splitlines()
    if not lines or lines[0].strip() != "date,co2":
        raise ValueError(f"MaunaLoaCO2: {path} must start with the header 'date,co2', "
                         f"got {lines[:1]!r}")
    dates, values = [], []
    for number, line in enumerate(lines[1:], start=2):
        stamp, _, value = line.partition(",")
        if len(stamp) != 8 or not stamp.isdigit():
            raise ValueError(f"MaunaLoaCO2: line {number} of {path} has no YYYYMMDD date: "
                             f"{line!r}")
        dates.append(f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:]}")
        values.append(float(value) if value.strip() else np.nan)
    return np.array(dates, dtype="datetime64[D]"), np.array(values, dtype=np.float64)


def _monthly_means(days: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar-month means of the available values; empty months interpolated in time."""
    months = days.astype("datetime64[M]")
    span = np.arange(months[0], months[-1] + 1)
    index = (months - span[0]).astype(np.int64)
    known = ~np.isnan(values)
    sums = np.bincount(index[known], weights=values[known], minlength=len(span))
    counts = np.bincount(index[known], minlength=len(span))
    means = np.full(len(span), np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    have = counts > 0
    positions = np.arange(len(span))
    means[~have] = np.interp(positions[~have], positions[have], means[have])
    return span, means


def forecast_windows(series, window: int, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All (past ``window`` values, next ``horizon`` values) pairs of a 1-D series, in order.

    Returns ``inputs`` of shape (N, window) and ``targets`` of shape (N, horizon), N =
    len(series) - window - horizon + 1; pair i reads series[i:i+window] and predicts
    series[i+window:i+window+horizon].
    """
    series = np.asarray(series)
    if series.ndim != 1:
        raise ValueError(f"forecast_windows: the series must be 1-D, got shape {series.shape}")
    if window < 1 or horizon < 1:
        raise ValueError(f"forecast_windows: window and horizon must be >= 1, got window="
                         f"{window}, horizon={horizon}")
    n = len(series) - window - horizon + 1
    if n < 1:
        raise ValueError(f"forecast_windows: a series of length {len(series)} is too short for "
                         f"window={window} + horizon={horizon}")
    spans = np.lib.stride_tricks.sliding_window_view(series, window + horizon)[:n]
    return spans[:, :window].copy(), spans[:, window:].copy()
