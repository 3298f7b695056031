"""Training on real data: an MLP and LeNet-5 learn subsets of MNIST (the original files) in
seconds."""

import pytest

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset
from deepgrad.data.datasets import MNIST
from deepgrad.models import LeNet5
from deepgrad.train import Trainer


@pytest.fixture(scope="module")
def mnist(datasets_root):
    train = MNIST(root=datasets_root, train=True, download=False).tensors(normalize=True)
    test = MNIST(root=datasets_root, train=False, download=False).tensors(normalize=True)
    return train, test


def test_mlp_reaches_95_percent_on_mnist_test_images(mnist):
    (x, y), (x_test, y_test) = mnist
    dg.manual_seed(0)
    x, y = x[:20000].reshape(20000, -1), y[:20000]
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    trainer = Trainer(model, nn.CrossEntropyLoss(), dg.optim.Adam(model.parameters(), lr=1e-3),
                      metrics=["accuracy"])
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True), epochs=4)
    scores = trainer.evaluate(DataLoader(TensorDataset(x_test.reshape(10000, -1), y_test),
                                         batch_size=1000))
    assert scores["accuracy"] >= 0.95


def test_lenet5_reaches_92_percent_on_mnist_test_images(mnist):
    # 250 steps on 8,000 digits; measured 93.75% on the first 2,000 test images
    (x, y), (x_test, y_test) = mnist
    dg.manual_seed(0)
    model = LeNet5()
    trainer = Trainer(model, nn.CrossEntropyLoss(), dg.optim.Adam(model.parameters(), lr=2e-3),
                      metrics=["accuracy"])
    train = TensorDataset(x[:8000].reshape(-1, 1, 28, 28), y[:8000])
    trainer.fit(DataLoader(train, batch_size=64, shuffle=True), epochs=2)
    test = TensorDataset(x_test[:2000].reshape(-1, 1, 28, 28), y_test[:2000])
    assert trainer.evaluate(DataLoader(test, batch_size=500))["accuracy"] >= 0.92
