"""The vendored Mauna Loa CO2 series and its forecast windows (offline: the CSV ships inside)."""

import shutil

import numpy as np
import pytest

from deepgrad.data.datasets import CorruptFileError, DatasetNotFoundError, sha256sum, timeseries
from deepgrad.data.datasets.timeseries import MaunaLoaCO2, forecast_windows


@pytest.fixture(scope="module")
def co2():
    return MaunaLoaCO2()


def test_the_vendored_csv_is_the_pinned_file():
    assert sha256sum(timeseries._PACKAGED / "co2.csv") == MaunaLoaCO2.file.sha256 == (
        "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f")


def test_weekly_values_as_in_the_file(co2):
    assert len(co2.weekly) == 2284
    assert str(co2.weeks[0]) == "1958-03-29" and str(co2.weeks[-1]) == "2001-12-29"
    assert (np.diff(co2.weeks) == np.timedelta64(7, "D")).all()
    assert co2.weekly[0] == 316.1 and co2.weekly[-1] == 371.5
    assert np.isnan(co2.weekly).sum() == 59


def test_monthly_means_and_interpolated_gaps(co2):
    assert len(co2) == 526 and str(co2.months[0]) == "1958-03" and str(co2.months[-1]) == "2001-12"
    assert not np.isnan(co2.monthly).any()
    december = co2.weeks.astype("datetime64[M]") == np.datetime64("2001-12")
    assert co2.monthly[-1] == pytest.approx(np.nanmean(co2.weekly[december]))
    gap = np.flatnonzero(co2.months == np.datetime64("1958-06"))[0]  # no week in June 1958
    assert co2.monthly[gap] == pytest.approx((co2.monthly[gap - 1] + co2.monthly[gap + 1]) / 2)
    assert 310 < co2.monthly.min() and co2.monthly.max() < 375


def test_a_root_without_the_file_is_a_clear_error(tmp_path, co2):
    with pytest.raises(DatasetNotFoundError, match="co2.csv"):
        MaunaLoaCO2(root=tmp_path, download=False)
    (tmp_path / "co2").mkdir()
    (tmp_path / "co2" / "co2.csv").write_text("date,co2\n19580329,316.1\n")
    with pytest.raises(CorruptFileError, match="SHA-256"):
        MaunaLoaCO2(root=tmp_path)


def test_a_copy_under_root_is_read(tmp_path, co2):
    (tmp_path / "co2").mkdir()
    shutil.copy(timeseries._PACKAGED / "co2.csv", tmp_path / "co2" / "co2.csv")
    np.testing.assert_array_equal(MaunaLoaCO2(root=tmp_path, download=False).monthly,
                                  co2.monthly)


def test_forecast_windows_pair_each_past_with_its_future():
    x, y = forecast_windows(np.arange(10.0), window=3, horizon=2)
    assert x.shape == (6, 3) and y.shape == (6, 2)
    np.testing.assert_array_equal(x[0], [0, 1, 2])
    np.testing.assert_array_equal(y[0], [3, 4])
    np.testing.assert_array_equal(y[-1], [8, 9])


@pytest.mark.parametrize("series,window,horizon,message", [
    (np.zeros((3, 3)), 2, 1, "1-D"),
    (np.zeros(5), 0, 1, "window and horizon"),
    (np.zeros(5), 4, 2, "too short"),
])
def test_forecast_windows_reject_bad_arguments(series, window, horizon, message):
    with pytest.raises(ValueError, match=message):
        forecast_windows(series, window, horizon)
