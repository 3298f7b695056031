"""fashion-resnet: a CIFAR-style ResNet-20 on Fashion-MNIST, scored on the official test set.

ResNet-20 (He et al. 2015, section 4.2: 3x3 convolutions, three stages of 16, 32 and 64
channels, option A shortcuts; 269,434 parameters with one input channel) trained with SGD
(Nesterov momentum, weight decay) under a one-cycle learning rate, on images randomly
shifted by up to ``shift`` pixels and mirrored left-right. The training set's last 5,000
images are held out for choosing the best checkpoint. Needs the Fashion-MNIST files.
"""

from __future__ import annotations

import deepgrad as dg
from deepgrad import nn
from deepgrad.data.datasets import FashionMNIST
from deepgrad.models import resnet20
from deepgrad.recipes.base import Recipe, Setup
from deepgrad.recipes.images import image_loaders, mnist_input
from deepgrad.recipes.images import plots as mnist_plots
from deepgrad.recipes.mnist_cnn import conv_plots
from deepgrad.train.callbacks import LRSchedulerCallback

DEFAULTS = dict(epochs=15, lr=0.1, batch_size=128, momentum=0.9, weight_decay=5e-4,
                label_smoothing=0.0, shift=2, flip=True, seed=0, n_val=5000, data_dir=None)
INPUT_SHAPE = (1, 28, 28)
# shorter than FashionMNIST.classes, so that "predicted/true" titles fit over the images
SHORT_NAMES = ["top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
               "bag", "boot"]


def build_model(config: dict):
    return resnet20(num_classes=10, in_channels=1)


def build(config: dict) -> Setup:
    model = build_model(config)
    train, val, test = image_loaders(config, FashionMNIST, INPUT_SHAPE, shift=config["shift"],
                                     flip=config["flip"])
    optimizer = dg.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"],
                             nesterov=True, weight_decay=config["weight_decay"])
    # lr is the peak rate; OneCycleLR warms up to it over the first quarter, then anneals
    schedule = dg.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"],
                                                epochs=config["epochs"],
                                                steps_per_epoch=len(train), pct_start=0.25)
    return Setup(model=model, loss_fn=nn.CrossEntropyLoss(
                     label_smoothing=config["label_smoothing"]),
                 optimizer=optimizer, train=train, val=val, test=test,
                 callbacks=[LRSchedulerCallback(schedule, per="batch")])


def plots(setup: Setup, config: dict, out) -> list:
    """Confusion matrix, misclassified test images, first-layer filters, feature maps."""
    return (mnist_plots(setup, config, out, class_names=SHORT_NAMES)
            + conv_plots(setup, out, ["conv1", "layer1", "layer2", "layer3"]))


recipe = Recipe(name="fashion-resnet", description=__doc__.strip().splitlines()[0],
                defaults=DEFAULTS, model=build_model, build=build, plots=plots,
                predict_input=lambda images: mnist_input(images, INPUT_SHAPE, FashionMNIST))
