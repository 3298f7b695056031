"""What a recipe is, and the one runner that turns any recipe into a finished run folder.

A recipe names its settings (``defaults``) and builds, from a resolved config, everything a
training run needs (``Setup``). The runner seeds, trains with a Trainer and its callbacks, keeps
the best weights, scores the test set, draws the plots and writes the run folder:

    config.json   the resolved settings (recipe defaults + command-line overrides)
    log.csv       one row of metrics per epoch (log.jsonl: the same as JSON lines)
    best.safetensors  the best checkpoint (model, optimizer, epoch, RNG state)
    last.safetensors  the latest epoch's checkpoint, from which ``resume=True`` goes on
    *.png         plots
    report.md     what was run and what it reached
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import deepgrad as dg


@dataclass
class Setup:
    """Everything one training run needs, built by a recipe from its config."""

    model: Any
    loss_fn: Any
    optimizer: Any
    train: Any  # an iterable of (inputs, targets) batches, e.g. a DataLoader
    val: Any = None
    test: Any = None
    metrics: list = field(default_factory=lambda: ["accuracy"])
    monitor: str = "val_accuracy"
    callbacks: list = field(default_factory=list)


@dataclass
class Recipe:
    """A named end-to-end run: its settings, how to build it, and what to draw afterwards.

    ``build`` makes the whole run (data, model, optimizer); ``model`` the network alone, so that
    a finished run can predict without loading its data. ``run`` replaces the standard Trainer
    run for recipes that are not one (the perceptron).
    """

    name: str
    description: str
    defaults: dict
    model: Callable[[dict], Any] | None = None  # the network alone (for predicting)
    build: Callable[[dict], Setup] | None = None
    plots: Callable[[Setup, dict, Path], list] | None = None
    run: Callable[[dict, Path], dict] | None = None
    predict_input: Callable[[Any], Any] | None = None  # a loaded array -> the model's input


class EpochLog:
    """``log.csv`` of a recipe that runs its own loop (``Recipe.run``): one row per epoch,
    on disk as soon as it is written (an interrupted run keeps its rows), each with the seconds
    since the log began. ``rows`` are the rows so far; ``rows`` given here (those of a run
    being resumed) are written first. The columns are those of the first row."""

    def __init__(self, path: str | Path, rows: list | None = None) -> None:
        self.path, self.rows, self.started = Path(path), [], time.perf_counter()
        self._keys: list | None = None
        for row in rows or []:
            self._append(dict(row))

    def write(self, epoch: int, **values) -> dict:
        """Log one epoch's values (numbers); returns the row."""
        row = {"epoch": epoch, **values,
               "elapsed_s": round(time.perf_counter() - self.started, 1)}
        self._append(row)
        return row

    @property
    def history(self) -> dict:
        """Each logged name's values, epoch by epoch."""
        return {key: [row.get(key) for row in self.rows] for key in self._keys or []
                if key not in ("epoch", "elapsed_s")}

    def _append(self, row: dict) -> None:
        self.rows.append(row)
        first = self._keys is None
        if first:
            self._keys = list(row)
        with open(self.path, "w" if first else "a", newline="") as f:
            writer = csv.writer(f)
            if first:
                writer.writerow(self._keys)
            writer.writerow([_cell(row.get(key, "")) for key in self._keys])


def learning_curves(history: dict, out: Path) -> list:
    """Draw ``history`` (name -> per-epoch values) to out/learning_curves.png and return
    [that path]; [] where the plotting extra (matplotlib) is missing."""
    try:
        from deepgrad import viz
    except ImportError:
        return []
    path = out / "learning_curves.png"
    try:
        viz.plot_learning_curves(history, path=path)
    except ImportError as e:  # matplotlib is optional
        print(f"no plots: {e}")
        return []
    return [path]


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def resolve(recipe: Recipe, overrides: dict) -> dict:
    """The recipe's defaults with the given overrides (None means 'keep the default')."""
    config = dict(recipe.defaults, recipe=recipe.name)
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in recipe.defaults and key not in ("data_dir",):
            raise ValueError(f"recipe {recipe.name!r} has no setting {key!r}; its settings are "
                             f"{sorted(recipe.defaults)}")
        config[key] = value
    return config


def run_recipe(recipe: Recipe, overrides: dict, out: str | Path, log=print,
               resume: bool = False) -> dict:
    """Train the recipe into the folder `out`; return the final results.

    With ``resume`` an interrupted run goes on from ``out/last.safetensors`` with the settings
    it was started with (``overrides`` may only raise ``epochs`` or move ``data_dir``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = _resumed_config(recipe, overrides, out) if resume else resolve(recipe, overrides)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    dg.manual_seed(config.get("seed", 0))
    started = time.perf_counter()
    if recipe.run is not None:
        results = recipe.run(config, out)
        plots = results.pop("plots", [])
    else:
        results, plots = _train(recipe, config, out, log, resume)
    results["wall_time_s"] = round(time.perf_counter() - started, 2)
    results["plots"] = [str(p) for p in plots]
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    _write_report(recipe, config, results, plots, out)
    return results


def _resumed_config(recipe: Recipe, overrides: dict, out: Path) -> dict:
    if recipe.run is not None:
        raise ValueError(f"recipe {recipe.name!r} runs its own loop and cannot be resumed")
    if not (out / "last.safetensors").exists():
        raise FileNotFoundError(f"resume: {out / 'last.safetensors'} does not exist; start the "
                                f"run without resume")
    config = json.loads((out / "config.json").read_text())
    for key, value in overrides.items():
        if value is not None and key not in ("epochs", "data_dir") and value != config.get(key):
            raise ValueError(f"resume: setting {key!r} was {config.get(key)!r} when the run "
                             f"started; a resumed run keeps it (only epochs and data_dir change)")
    config.update({k: overrides[k] for k in ("epochs", "data_dir") if overrides.get(k) is not None})
    return config


def _train(recipe: Recipe, config: dict, out: Path, log, resume: bool = False
           ) -> tuple[dict, list]:
    from deepgrad.train import Trainer
    from deepgrad.train.callbacks import CSVLogger, JSONLinesLogger, ModelCheckpoint, ProgressBar

    setup = recipe.build(config)
    mode = "min" if setup.monitor.endswith("loss") else "max"
    checkpoint = out / "best.safetensors"
    callbacks = [
        ModelCheckpoint(checkpoint, monitor=setup.monitor, mode=mode, save_best_only=True),
        ModelCheckpoint(out / "last.safetensors", monitor=setup.monitor, save_best_only=False),
        CSVLogger(out / "log.csv", append=resume),
        JSONLinesLogger(out / "log.jsonl", append=resume), ProgressBar(),
        *setup.callbacks,
    ]
    trainer = Trainer(setup.model, setup.loss_fn, setup.optimizer, metrics=setup.metrics,
                      callbacks=callbacks)
    history = trainer.fit(setup.train, setup.val, epochs=config["epochs"],
                          resume_from=out / "last.safetensors" if resume else None)
    load_best(setup.model, checkpoint)
    results = {"epochs_run": len(history.epoch), "best_" + setup.monitor: _best(history, setup)}
    if setup.test is not None:
        scores = trainer.evaluate(setup.test)
        results.update({"test_" + k: v for k, v in scores.items()})
        log("test: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    plots = _plots(recipe, setup, history, config, out)
    return results, plots


def _best(history, setup: Setup) -> float:
    values = history.history.get(setup.monitor, [])
    if not values:
        return float("nan")
    return min(values) if setup.monitor.endswith("loss") else max(values)


def load_best(model, checkpoint: Path) -> None:
    """Load the model weights of a run's best checkpoint."""
    state = dg.load(checkpoint)
    model.load_state_dict(state["model"] if "model" in state else state)


def _plots(recipe: Recipe, setup: Setup, history, config: dict, out: Path) -> list:
    try:
        from deepgrad import viz

        paths = [out / "learning_curves.png"]
        viz.plot_learning_curves(history, path=paths[0])
        if recipe.plots is not None:
            paths += recipe.plots(setup, config, out)
        return paths
    except ImportError as e:  # matplotlib is optional
        print(f"no plots: {e}")
        return []


def _write_report(recipe: Recipe, config: dict, results: dict, plots: list, out: Path) -> None:
    lines = [f"# {recipe.name}", "", recipe.description, "", "## Settings", ""]
    lines += [f"- {k}: {v}" for k, v in config.items()]
    lines += ["", "## Results", ""]
    lines += [f"- {k}: {v:.4f}" if isinstance(v, float) else f"- {k}: {v}"
              for k, v in results.items() if k != "plots"]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in plots]
    (out / "report.md").write_text("\n".join(lines) + "\n")
