"""Named end-to-end runs (data + model + training settings), one small file each.

Adding a recipe is adding a module here that defines ``recipe = Recipe(...)``; it is found by
name (``deepgrad recipes`` lists them, ``deepgrad train NAME`` runs one).
"""

from __future__ import annotations

import importlib
import pkgutil

from deepgrad.recipes.base import Recipe, Setup, load_best, resolve, run_recipe

__all__ = ["Recipe", "Setup", "all_recipes", "get", "load_best", "resolve", "run_recipe"]

_NOT_RECIPES = {"base", "images"}


def all_recipes() -> dict:
    """{name: Recipe} for every recipe module in this package."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_RECIPES:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        recipe = getattr(module, "recipe", None)
        if isinstance(recipe, Recipe):
            found[recipe.name] = recipe
    return dict(sorted(found.items()))


def get(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        raise KeyError(f"no recipe named {name!r}; the recipes are: {', '.join(recipes)}")
    return recipes[name]
