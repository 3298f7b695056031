"""Ready-made data sets: generated 2-D toys (offline, no files) and real ones, downloaded once.

Real data sets are cached under ``root=``, else ``$DEEPGRAD_DATA``, else ``~/.cache/deepgrad``, and
every file is checked against its SHA-256 before use.
"""

from deepgrad.data.datasets.files import (
    CorruptFileError,
    DatasetNotFoundError,
    RemoteFile,
    data_root,
    download,
    fetch,
    sha256sum,
    verify,
)
from deepgrad.data.datasets.generated import blobs, circles, moons, spirals, xor
from deepgrad.data.datasets.sst2 import SST2, Vocab, pad_sequences, tokenize
from deepgrad.data.datasets.text import TinyShakespeare
from deepgrad.data.datasets.timeseries import MaunaLoaCO2, forecast_windows
from deepgrad.data.datasets.vision import MNIST, FashionMNIST, read_idx
