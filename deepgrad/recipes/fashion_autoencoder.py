"""fashion-autoencoder: the mnist-autoencoder recipe on Fashion-MNIST (clothing, 28x28 grey).

The same model, training and scores as mnist-autoencoder (reconstruction MSE per pixel against
the mean-image and PCA references, ``denoising=True`` for the denoising variant); only the data
set differs. Clothes carry more texture than digits, so the same 32-d code loses more of them.
"""

from __future__ import annotations

from deepgrad.recipes import mnist_autoencoder
from deepgrad.recipes.base import Recipe

DEFAULTS = dict(mnist_autoencoder.DEFAULTS, dataset="fashion")

recipe = Recipe(name="fashion-autoencoder", description=__doc__.strip().splitlines()[0],
                defaults=DEFAULTS, run=mnist_autoencoder.run)
