"""What the image-classification recipes share: MNIST-style loaders (with the training set's last
n_val images held out and optional shift/flip augmentation), input preparation for predicting,
and the confusion-matrix and misclassified-image plots."""

from __future__ import annotations

import deepgrad as dg
from deepgrad import nn
from deepgrad.data import DataLoader, TensorDataset, transforms
from deepgrad.data.datasets import MNIST
from deepgrad.recipes.base import Setup
from deepgrad.train.callbacks import LRSchedulerCallback

INPUT_SHAPE = (784,)  # an MLP's view of one image


def mnist_setup(config: dict, model, input_shape: tuple) -> Setup:
    """MNIST (normalised, each image shaped input_shape) with the training set's last n_val
    images held out, and Adam with a cosine schedule: what the MNIST recipes share.

    Optional settings: ``shift`` (random shifts of up to that many pixels, for image inputs)
    and ``label_smoothing``."""
    train, val, test = image_loaders(config, MNIST, input_shape, shift=config.get("shift", 0))
    optimizer = dg.optim.Adam(model.parameters(), lr=config["lr"])
    schedule = dg.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config["epochs"])
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.get("label_smoothing", 0.0))
    return Setup(model=model, loss_fn=loss_fn, optimizer=optimizer, train=train, val=val,
                 test=test, callbacks=[LRSchedulerCallback(schedule)])


def image_loaders(config: dict, dataset=MNIST, input_shape: tuple = INPUT_SHAPE, shift: int = 0,
                  flip: bool = False) -> tuple:
    """(train, val, test) loaders of an MNIST-layout data set, normalised with its training
    statistics; the training set's last ``n_val`` images are the validation set.

    ``shift`` > 0 crops a random image-sized window from the image padded by ``shift`` pixels of
    background (a random translation) and ``flip`` mirrors half the images; both are applied
    to whole training batches at once."""
    if (shift or flip) and len(input_shape) != 3:
        raise ValueError(f"shift and flip need image inputs (C, H, W), not {input_shape}")
    x, y = dataset(root=config.get("data_dir"), train=True).tensors(normalize=True)
    x_test, y_test = dataset(root=config.get("data_dir"), train=False).tensors(normalize=True)
    x, x_test = x.reshape(-1, *input_shape), x_test.reshape(-1, *input_shape)
    cut = len(x) - config["n_val"]
    if cut <= 0:
        raise ValueError(f"n_val={config['n_val']} leaves no training images out of {len(x)}")
    train = DataLoader(TensorDataset(x[:cut], y[:cut]), batch_size=config["batch_size"],
                       shuffle=True)
    augment = []
    if shift:
        background = -dataset.mean / dataset.std  # a black pixel, once normalised
        augment.append(transforms.RandomCrop(input_shape[-2:], padding=shift, fill=background))
    if flip:
        augment.append(transforms.RandomHorizontalFlip())
    if augment:
        train = transforms.TransformedLoader(train, transforms.Compose(augment))
    val = DataLoader(TensorDataset(x[cut:], y[cut:]), batch_size=500)
    test = DataLoader(TensorDataset(x_test, y_test), batch_size=500)
    return train, val, test


def mnist_input(images, input_shape: tuple = INPUT_SHAPE, dataset=MNIST):
    """Images (N, 28, 28), pixels in [0, 255] or [0, 1], normalised with dataset's statistics
    and shaped for the model."""
    x = dg.tensor(images, dtype=dg.float32).reshape(-1, *input_shape)
    if x.max().item() > 1:
        x = x / 255
    return (x - dataset.mean) / dataset.std


def plots(setup: Setup, config: dict, out, class_names=None) -> list:
    """Confusion matrix and misclassified test images (predicted batch by batch)."""
    from deepgrad import viz
    from deepgrad.train import confusion_matrix

    setup.model.eval()
    images, targets, preds = [], [], []
    with dg.no_grad():
        for x, y in setup.test:
            images.append(x)
            targets.append(y)
            preds.append(setup.model(x).argmax(1))
    x, y, pred = dg.cat(images), dg.cat(targets), dg.cat(preds)
    paths = [out / "confusion_matrix.png", out / "misclassified.png"]
    viz.plot_confusion_matrix(confusion_matrix(pred, y, 10), class_names=class_names,
                              path=paths[0])
    wrong = (pred != y).nonzero(as_tuple=True)[0]
    viz.plot_misclassified(x[wrong].reshape(-1, 28, 28), pred[wrong], y[wrong],
                           class_names=class_names, path=paths[1])
    return paths
