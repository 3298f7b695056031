"""Scoring a generator with a classifier: Inception Score and Fréchet distance.

Both scores judge samples through a trained classifier, as the originals judge ImageNet samples
through Inception-v3; for digits, a small MNIST classifier takes Inception's place (so the
numbers compare runs on MNIST, not with published ImageNet scores).

- Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs"):
  ``exp(E_x KL(p(y|x) || p(y)))``. High when each sample is classified confidently (peaked
  p(y|x)) and the classes are used evenly (flat p(y)); it lies between 1 and the number of
  classes, which it reaches for confident predictions spread uniformly over all classes.
- Fréchet distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule ...",
  FID): the distance between Gaussians fitted to the classifier's penultimate-layer features of
  two image sets, ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``. 0 for identical
  statistics; lower is better.
"""

from __future__ import annotations

import numpy as np

import deepgrad as dg
from deepgrad.tensor import Tensor

__all__ = ["inception_score", "frechet_distance", "classifier_outputs", "gan_scores"]


def _array(x, name: str, op: str, ndim: int = 2) -> np.ndarray:
    a = x.numpy() if isinstance(x, Tensor) else np.asarray(x)
    if a.ndim != ndim or not np.issubdtype(a.dtype, np.number):
        raise ValueError(f"{op}: {name} must be a {ndim}-d numeric array, got shape {a.shape} "
                         f"and dtype {a.dtype}")
    return a.astype(np.float64)


def inception_score(probs, splits: int = 10, eps: float = 1e-12) -> tuple[float, float]:
    """Inception Score of class probabilities p(y|x), shape (N, classes), rows summing to 1.

    The N samples are cut into ``splits`` equal parts; each part gets
    ``exp(mean_x KL(p(y|x) || p(y)))`` with p(y) that part's mean prediction. Returns the mean
    and standard deviation over the parts (Salimans et al. 2016 used 10 parts of 5,000).
    """
    op = "inception_score"
    p = _array(probs, "probs", op)
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError(f"{op}: probs must be non-negative rows that sum to 1 (softmax "
                         f"outputs); row sums range over [{p.sum(1).min():.4g}, "
                         f"{p.sum(1).max():.4g}]")
    if not isinstance(splits, int) or not 1 <= splits <= len(p):
        raise ValueError(f"{op}: splits must be an int in [1, {len(p)}] (the number of "
                         f"samples), got {splits!r}")
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(marginal + eps))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _gaussian(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return feats.mean(0), np.atleast_2d(np.cov(feats, rowvar=False))


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (round-off negatives -> 0)."""
    values, vectors = np.linalg.eigh(s)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets, each (N, D), N >= 2.

    ``tr((S_a S_b)^(1/2))`` is computed stably in float64 as the sum of the square roots of
    the eigenvalues of the symmetric PSD matrix ``S_a^(1/2) S_b S_a^(1/2)`` (same eigenvalues
    as S_a S_b), instead of a general matrix square root that can turn complex on round-off.
    """
    op = "frechet_distance"
    a, b = _array(feats_a, "feats_a", op), _array(feats_b, "feats_b", op)
    if a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise ValueError(f"{op}: feature sets must be (N, D) with the same D and N >= 2, got "
                         f"{a.shape} and {b.shape}")
    mu_a, s_a = _gaussian(a)
    mu_b, s_b = _gaussian(b)
    root_a = _sqrt_psd(s_a)
    middle = root_a @ s_b @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    d = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2.0 * trace_sqrt
    return float(max(d, 0.0))


def classifier_outputs(classifier, images, feature_layer: str, batch_size: int = 500):
    """Softmax probabilities and ``feature_layer``'s outputs (flattened) of ``classifier`` on
    ``images``, batch by batch, in eval mode and without gradients.

    feature_layer names a submodule (as in ``named_modules()``), e.g. the penultimate layer's
    activation. Returns two float64 arrays: probs (N, classes) and features (N, D).
    """
    modules = dict(classifier.named_modules())
    if feature_layer not in modules:
        raise ValueError(f"classifier_outputs: the classifier has no submodule "
                         f"{feature_layer!r}; it has {[k for k in modules if k]}")
    captured = []
    handle = modules[feature_layer].register_forward_hook(
        lambda module, args, output: captured.append(output.detach().numpy().reshape(
            output.shape[0], -1).astype(np.float64)))
    was_training = classifier.training
    classifier.eval()
    probs = []
    try:
        with dg.no_grad():
            x = images if isinstance(images, Tensor) else dg.tensor(images, dtype=dg.float32)
            for start in range(0, len(x), batch_size):
                logits = classifier(x[start:start + batch_size])
                probs.append(_softmax(logits.numpy().astype(np.float64)))
    finally:
        handle.remove()
        classifier.train(was_training)
    return np.concatenate(probs), np.concatenate(captured)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def gan_scores(classifier, images, reference_features, feature_layer: str, splits: int = 10,
               batch_size: int = 500) -> dict:
    """Inception Score (mean, std over ``splits``) of ``images`` and their Fréchet distance to
    ``reference_features`` (the same layer's features of real images), through ``classifier``.
    """
    probs, feats = classifier_outputs(classifier, images, feature_layer, batch_size)
    mean, std = inception_score(probs, splits)
    return {"inception_score": mean, "inception_score_std": std,
            "frechet_distance": frechet_distance(feats, reference_features),
            "class_counts": np.bincount(probs.argmax(1), minlength=probs.shape[1]).tolist()}
