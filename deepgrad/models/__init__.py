"""The model zoo: complete networks from the history of deep learning, ready to train."""

from deepgrad.models import autoencoder, dcgan, vae
from deepgrad.models.autoencoder import *
from deepgrad.models.char_rnn import CharLSTM, sample_index
from deepgrad.models.dcgan import *
from deepgrad.models.lenet import LeNet5, MnistCNN
from deepgrad.models.perceptron import Perceptron, PerceptronHistory
from deepgrad.models.resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    ResNet,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet50,
)
from deepgrad.models.vae import *
from deepgrad.models.vgg import SmallVGG

__all__ = ["Perceptron", "PerceptronHistory", "LeNet5", "MnistCNN", "SmallVGG", "BasicBlock",
           "Bottleneck", "ResNet", "CifarResNet", "resnet18", "resnet34", "resnet50", "resnet20",
           "resnet32", "CharLSTM", *autoencoder.__all__, *dcgan.__all__, *vae.__all__]
