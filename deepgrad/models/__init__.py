"""The model zoo: complete networks from the history of deep learning, ready to train."""

from deepgrad.models.perceptron import Perceptron, PerceptronHistory

__all__ = ["Perceptron", "PerceptronHistory"]
