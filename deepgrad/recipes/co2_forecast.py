"""co2-forecast: an LSTM forecasts next month's CO2 at Mauna Loa, against naive forecasts.

The monthly Keeling curve (1958-2001, 526 months) is split in time: the first 70% of the
months train, the next 15% choose the checkpoint, the last 15% (1995-2001) test. A window of
the past ``window`` months predicts the next ``horizon`` months. The series rises by about 1.5
ppm a year, so test values lie above anything seen in training: the network therefore sees
each window relative to its last value and predicts the change from it, scaled by the standard
deviation of the training months' monthly changes (statistics from the training part only).
Baselines on the same test months: the last value (naive), the value twelve months before the
target (seasonal naive), and that value plus the latest year-on-year change (seasonal naive
with drift). Errors are in ppm.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.datasets.timeseries import MaunaLoaCO2, forecast_windows
from deepgrad.recipes.base import EpochLog, Recipe

DEFAULTS = dict(epochs=150, lr=3e-3, batch_size=32, window=24, horizon=1, hidden=32,
                layers=1, cell="lstm", val_fraction=0.15, test_fraction=0.15, seed=0,
                data_dir=None)
CHECKPOINT = "best.safetensors"


class Forecaster(nn.Module):
    """A recurrent network (LSTM or GRU) reads the window; a linear layer maps its last hidden
    state to the next ``horizon`` values. Input (N, window, 1), output (N, horizon)."""

    def __init__(self, hidden: int = 32, horizon: int = 1, layers: int = 1,
                 cell: str = "lstm") -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"Forecaster: cell must be 'lstm' or 'gru', got {cell!r}")
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, horizon)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def build_model(config: dict) -> Forecaster:
    return Forecaster(config["hidden"], config["horizon"], config["layers"], config["cell"])


def split_windows(series: np.ndarray, config: dict) -> dict:
    """Windows of the series grouped by the part (train, val, test) their first target is in.

    Returns, per part, ``inputs`` (N, window) and ``targets`` (N, horizon) in ppm, and the
    ``seasonal`` forecast (the value 12 months before each target; NaN where the series does
    not reach back that far) and ``seasonal_drift`` (that plus the change over the 12 months
    before the window's last month), plus the part boundaries as month indices.
    """
    n = len(series)
    n_test = int(round(n * config["test_fraction"]))
    n_val = int(round(n * config["val_fraction"]))
    cut_val, cut_test = n - n_test - n_val, n - n_test
    window, horizon = config["window"], config["horizon"]
    if horizon > 12:
        raise ValueError(f"co2-forecast: horizon must be <= 12 months (the seasonal-naive "
                         f"baseline reads the same month a year before), got {horizon}")
    if cut_val - window - horizon < 1 or n_val < horizon or n_test < horizon:
        raise ValueError(f"co2-forecast: {n} months are too few for window={window}, "
                         f"horizon={horizon} and the val/test fractions")
    inputs, targets = forecast_windows(series, window, horizon)
    first = np.arange(len(inputs)) + window  # month index of each window's first target
    months = first[:, None] + np.arange(horizon)
    seasonal = np.where(months >= 12, series[np.maximum(months - 12, 0)], np.nan)
    last = first[:, None] - 1  # the window's last month
    drift = series[last] - np.where(last >= 12, series[np.maximum(last - 12, 0)], np.nan)
    parts = {}
    for name, lo, hi in (("train", 0, cut_val), ("val", cut_val, cut_test),
                         ("test", cut_test, n)):
        keep = (first >= lo) & (months[:, -1] < hi)  # every target inside the part
        parts[name] = {"inputs": inputs[keep], "targets": targets[keep],
                       "seasonal": seasonal[keep], "seasonal_drift": (seasonal + drift)[keep],
                       "months": months[keep]}
    parts["bounds"] = (cut_val, cut_test)
    return parts


def scale_of(series: np.ndarray, cut: int) -> float:
    """The standard deviation of the month-to-month changes of the training part."""
    return float(np.diff(series[:cut]).std())


def to_model(inputs: np.ndarray, scale: float) -> np.ndarray:
    """Windows relative to their last value, divided by ``scale``: (N, window, 1) float32."""
    return ((inputs - inputs[:, -1:]) / scale)[..., None].astype(np.float32)


def forecast(model, inputs: np.ndarray, scale: float) -> np.ndarray:
    """The model's forecasts in ppm for windows in ppm."""
    model.eval()
    with dg.no_grad():
        change = model(dg.tensor(to_model(inputs, scale))).numpy().astype(np.float64)
    return inputs[:, -1:] + change * scale


def errors(predicted: np.ndarray, actual: np.ndarray) -> dict:
    diff = predicted - actual
    return {"rmse": float(np.sqrt(np.mean(diff ** 2))), "mae": float(np.mean(np.abs(diff)))}


def run(config: dict, out: Path, log=print) -> dict:
    data = MaunaLoaCO2(config.get("data_dir"))
    series = data.monthly
    parts = split_windows(series, config)
    scale = scale_of(series, parts["bounds"][0])
    model = build_model(config)
    history = _fit(model, parts, scale, config, out, log)
    model.load_state_dict(dg.load(out / CHECKPOINT)["model"])
    test = parts["test"]
    predicted = forecast(model, test["inputs"], scale)
    naive = np.repeat(test["inputs"][:, -1:], config["horizon"], axis=1)
    scores = {"model": errors(predicted, test["targets"]),
              "naive": errors(naive, test["targets"]),
              "seasonal_naive": errors(test["seasonal"], test["targets"]),
              "seasonal_drift": errors(test["seasonal_drift"], test["targets"])}
    results = {f"test_{name}_{k}": round(v, 4) for name, s in scores.items()
               for k, v in s.items()}
    results.update({"best_val_rmse": round(min(history["val_rmse"]), 4),
                    "best_epoch": int(np.argmin(history["val_rmse"])) + 1,
                    "test_months": f"{data.months[test['months'][0, 0]]}.."
                                   f"{data.months[test['months'][-1, -1]]}",
                    "n_train": len(parts["train"]["inputs"]),
                    "n_val": len(parts["val"]["inputs"]), "n_test": len(test["inputs"])})
    for key, value in results.items():
        log(f"{key}: {value}")
    results["plots"] = _plots(history, data, series, test, predicted, parts["bounds"], out)
    return results


def _fit(model, parts: dict, scale: float, config: dict, out: Path, log) -> dict:
    train = parts["train"]
    x = to_model(train["inputs"], scale)
    y = ((train["targets"] - train["inputs"][:, -1:]) / scale).astype(np.float32)
    loader = DataLoader(TensorDataset(x, y), batch_size=config["batch_size"], shuffle=True)
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    schedule = dg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    loss_fn = nn.MSELoss()
    epochs, best = EpochLog(out / "log.csv"), math.inf
    for epoch in range(1, config["epochs"] + 1):
        model.train()
        total = 0.0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        schedule.step()
        val = parts["val"]
        val_rmse = errors(forecast(model, val["inputs"], scale), val["targets"])["rmse"]
        epochs.write(epoch, loss=total / len(x), val_rmse=val_rmse)
        if val_rmse < best:
            best = val_rmse
            dg.save({"model": model.state_dict(), "epoch": epoch, "scale": scale},
                    out / CHECKPOINT)
        if epoch % 10 == 0 or epoch == config["epochs"]:
            log(f"epoch {epoch}: loss {total / len(x):.4f}, val_rmse {val_rmse:.4f} ppm")
    return epochs.history


def _plots(history, data, series, test, predicted, bounds, out: Path) -> list:
    try:
        from deepgrad import viz
        from deepgrad.viz._common import finish, new_figure
    except ImportError:
        return []
    paths = [out / "learning_curves.png", out / "test_forecast.png"]
    try:
        viz.plot_learning_curves(history, path=paths[0])
        fig, axes = new_figure(1, 2, figsize=(12, 3.8))
        months = data.months.astype("datetime64[D]").astype(object)
        ax = axes.flat[0]
        ax.plot(months, series, lw=0.8, color="0.3", label="monthly CO2")
        for cut, name in zip(bounds, ("validation", "test")):
            ax.axvline(months[cut], color="tab:red", ls="--", lw=0.8)
            ax.text(months[cut], series.min(), f" {name}", color="tab:red", fontsize="small")
        ax.set(title="Mauna Loa CO2 (ppm)", xlabel="month")
        ax = axes.flat[1]
        target_months = months[test["months"][:, 0]]
        ax.plot(target_months, test["targets"][:, 0], color="0.3", marker=".", label="actual")
        ax.plot(target_months, predicted[:, 0], color="tab:blue", label="LSTM forecast")
        ax.plot(target_months, test["inputs"][:, -1], color="tab:orange", lw=0.8, ls=":",
                label="naive (last value)")
        ax.set(title="test months: one month ahead", xlabel="month")
        ax.legend(fontsize="small")
        finish(fig, paths[1])
    except ImportError as e:  # matplotlib is optional
        print(f"no plots: {e}")
        return []
    return paths


recipe = Recipe(name="co2-forecast", description=__doc__.strip().splitlines()[0],
                defaults=DEFAULTS, run=run)
