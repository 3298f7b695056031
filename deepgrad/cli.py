"""The ``deepgrad`` command: list recipes, train one into a run folder, evaluate or use a run.

    deepgrad recipes
    deepgrad train circles [--epochs N] [--lr X] [--batch-size N] [--seed N] [--out DIR]
                           [--set KEY=VALUE ...]
    deepgrad evaluate runs/circles
    deepgrad predict runs/circles points.csv
    deepgrad generate runs/shakespeare-lstm --prompt "ROMEO:" --length 500 --temperature 0.8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except (KeyError, ValueError, FileNotFoundError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"deepgrad {args.name}: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deepgrad", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    listing = commands.add_parser("recipes", help="list the named recipes")
    listing.set_defaults(command=_recipes, name="recipes")

    train = commands.add_parser("train", help="run a recipe and write its run folder")
    train.add_argument("recipe")
    train.add_argument("--epochs", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--batch-size", type=int, dest="batch_size")
    train.add_argument("--seed", type=int)
    train.add_argument("--data-dir", dest="data_dir",
                       help="folder with the dataset files (default: $DEEPGRAD_DATA, then "
                            "~/.cache/deepgrad)")
    train.add_argument("--out", help="run folder (default: runs/RECIPE)")
    train.add_argument("--resume", action="store_true",
                       help="go on with an interrupted run in the run folder, from its last "
                            "epoch (--epochs may raise the number of epochs)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                       help="any other setting of the recipe (repeatable); the value is read "
                            "as JSON (numbers, true, null, ...), else taken as text")
    train.set_defaults(command=_train, name="train")

    evaluate = commands.add_parser("evaluate", help="score a finished run's best model on the "
                                                    "test set")
    evaluate.add_argument("run", help="a run folder written by 'deepgrad train'")
    evaluate.add_argument("--data-dir", dest="data_dir")
    evaluate.set_defaults(command=_evaluate, name="evaluate")

    predict = commands.add_parser("predict", help="predict classes for inputs with a finished run")
    predict.add_argument("run", help="a run folder written by 'deepgrad train'")
    predict.add_argument("input", help="a .npy array, or a .csv of numbers (one example per row)")
    predict.set_defaults(command=_predict, name="predict")

    generate = commands.add_parser("generate", help="sample text from a finished language-model "
                                                    "run (shakespeare-lstm)")
    generate.add_argument("run", help="a run folder written by 'deepgrad train'")
    generate.add_argument("--prompt", default="\n", help="the text to continue (default: a new "
                                                          "line)")
    generate.add_argument("--length", type=int, default=500, help="characters to sample")
    generate.add_argument("--temperature", type=float, default=1.0,
                          help="> 0; below 1 is more conservative, above 1 more random")
    generate.add_argument("--seed", type=int, help="seed of the sampling (the same seed gives "
                                                   "the same text)")
    generate.set_defaults(command=_generate, name="generate")
    return parser


def _recipes(args) -> int:
    from deepgrad.recipes import all_recipes

    for recipe in all_recipes().values():
        print(recipe.description)
    return 0


def _train(args) -> int:
    from deepgrad.recipes import get, run_recipe

    recipe = get(args.recipe)
    overrides = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "seed", "data_dir")}
    overrides.update(_settings(args.settings))
    out = Path(args.out or Path("runs") / recipe.name)
    results = run_recipe(recipe, overrides, out, resume=args.resume)
    plots = results.pop("plots")
    print("results: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in results.items()))
    if plots:
        print("plots: " + ", ".join(plots))
    print(f"run folder: {out} (report.md, config.json, logs, best checkpoint)")
    return 0


def _settings(pairs: list) -> dict:
    """{key: value} of KEY=VALUE strings, each value parsed as JSON where it is JSON."""
    settings = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return settings


def _finished_run(folder: str, data_dir=None, with_data: bool = True):
    """The recipe, config and Setup (or, without data, the model) of a finished run, with its
    best weights loaded."""
    from deepgrad.recipes import get, load_best

    run = Path(folder)
    if not (run / "config.json").is_file():
        raise FileNotFoundError(f"{run} is not a run folder (no config.json); make one with "
                                "'deepgrad train RECIPE --out DIR'")
    config = json.loads((run / "config.json").read_text())
    if data_dir:
        config["data_dir"] = data_dir
    recipe = get(config["recipe"])
    if recipe.model is None:
        raise ValueError(f"recipe {recipe.name!r} trains no single model to reuse")
    built = recipe.build(config) if with_data else recipe.model(config)
    model = built.model if with_data else built
    load_best(model, run / "best.safetensors")
    model.eval()
    return recipe, config, built


def _evaluate(args) -> int:
    from deepgrad.train import Trainer

    _, _, setup = _finished_run(args.run, args.data_dir)
    trainer = Trainer(setup.model, setup.loss_fn, setup.optimizer, metrics=setup.metrics)
    scores = trainer.evaluate(setup.test)
    for key, value in scores.items():
        print(f"test {key}: {value:.4f}")
    (Path(args.run) / "evaluation.json").write_text(json.dumps(scores, indent=2) + "\n")
    return 0


def _predict(args) -> int:
    import deepgrad as dg

    recipe, _, model = _finished_run(args.run, with_data=False)
    path = Path(args.input)
    if not path.is_file():
        raise FileNotFoundError(f"no input file {path}")
    array = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, delimiter=",", ndmin=2)
    with dg.no_grad():
        probabilities = model(recipe.predict_input(array)).softmax(1)
    for row in probabilities.numpy():
        print(f"{int(row.argmax())},{row.max():.4f}")
    return 0


def _generate(args) -> int:
    from deepgrad.recipes import get

    run = Path(args.run)
    if not (run / "config.json").is_file():
        raise FileNotFoundError(f"{run} is not a run folder (no config.json); make one with "
                                "'deepgrad train shakespeare-lstm --out DIR'")
    recipe = get(json.loads((run / "config.json").read_text())["recipe"])
    generate_text = getattr(sys.modules[recipe.run.__module__], "generate_text", None) \
        if recipe.run is not None else None
    if generate_text is None:
        raise ValueError(f"recipe {recipe.name!r} is not a language model; it cannot generate")
    print(generate_text(run, args.prompt, args.length, args.temperature, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
