"""Fit a small neural network with deepgrad's autograd alone: tensors, backward, gradient descent.

Two rings of points (the circles of the seeds) that no straight line separates; a network with one
hidden layer learns a representation in which they are separable. Run: python examples/quickstart.py
"""

import math

import deepgrad as dg


def circles(n: int, noise: float = 0.08):
    """n points on an inner ring (label 1) and an outer ring (label 0)."""
    angle = dg.rand(n) * 2 * math.pi
    label = (dg.rand(n) < 0.5).float()
    radius = 1.0 - 0.5 * label + noise * dg.randn(n)
    x = dg.stack([radius * angle.cos(), radius * angle.sin()], dim=1)
    return x, label


def bce_with_logits(z, y):
    """Binary cross-entropy on logits, in the stable form max(z, 0) - z*y + log(1 + e^-|z|)."""
    return (z.relu() - z * y + (1 + (-z.abs()).exp()).log()).mean()


def main(steps: int = 500, lr: float = 0.5, hidden: int = 16) -> float:
    dg.manual_seed(0)
    x, y = circles(512)
    w1 = (dg.randn(2, hidden) / math.sqrt(2)).requires_grad_()
    b1 = dg.zeros(hidden, requires_grad=True)
    w2 = (dg.randn(hidden, 1) / math.sqrt(hidden)).requires_grad_()
    b2 = dg.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    for step in range(steps + 1):
        logits = ((x @ w1 + b1).tanh() @ w2 + b2).squeeze(1)
        loss = bce_with_logits(logits, y)
        for p in params:
            p.grad = None
        loss.backward()  # backpropagation: d(loss)/d(p) for every parameter
        with dg.no_grad():  # gradient descent: step against the gradient
            for p in params:
                p -= lr * p.grad
        if step % 100 == 0:
            accuracy = ((logits > 0).float() == y).float().mean().item()
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy:.3f}")
    return accuracy


if __name__ == "__main__":
    main()
