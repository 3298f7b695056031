"""Dataset files: cache folder, atomic verified downloads (over file:// URLs), clear errors."""

import hashlib
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deepgrad.data.datasets import (
    MNIST,
    CorruptFileError,
    DatasetNotFoundError,
    RemoteFile,
    TinyShakespeare,
    data_root,
    download,
    fetch,
    sha256sum,
    verify,
)

PAYLOAD = b"deepgrad test payload\n" * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def source(tmp_path) -> Path:
    """A file to download, served from a file:// URL."""
    path = tmp_path / "server" / "payload.bin"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def _offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPGRAD_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("DEEPGRAD_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "deepgrad"
    assert data_root("~/data") == tmp_path / "home" / "data"


def test_sha256sum(source):
    assert sha256sum(source) == PAYLOAD_SHA
    assert verify(source, PAYLOAD_SHA) == source


def test_download_file_url(source, tmp_path):
    dest = tmp_path / "cache" / "sub" / "payload.bin"
    assert download(source.as_uri(), dest, PAYLOAD_SHA) == dest
    assert dest.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.parent.iterdir()) == ["payload.bin"]


def test_download_checksum_mismatch_leaves_nothing(source, tmp_path):
    dest = tmp_path / "cache" / "payload.bin"
    with pytest.raises(CorruptFileError, match=f"SHA-256 is {PAYLOAD_SHA}, expected 0+; nothing"):
        download(source.as_uri(), dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_download_failure_leaves_nothing(tmp_path):
    dest = tmp_path / "cache" / "payload.bin"
    with pytest.raises(urllib.error.URLError):
        download((tmp_path / "absent.bin").as_uri(), dest, PAYLOAD_SHA)
    assert list(dest.parent.iterdir()) == []


def test_fetch_downloads_missing_from_the_first_address_that_works(source, tmp_path):
    file = RemoteFile("payload.bin", PAYLOAD_SHA, ((tmp_path / "nope").as_uri(), source.as_uri()))
    (path,) = fetch("Toy", [file], tmp_path / "cache" / "toy")
    assert path == tmp_path / "cache" / "toy" / "payload.bin"
    assert path.read_bytes() == PAYLOAD


def test_fetch_uses_cached_files_without_network(source, tmp_path, monkeypatch):
    _offline(monkeypatch)
    file = RemoteFile("payload.bin", PAYLOAD_SHA, ("https://example.invalid/payload.bin",))
    assert fetch("Toy", [file], source.parent) == [source]


def test_fetch_offline_names_missing_files_folder_and_urls(source, tmp_path, monkeypatch):
    _offline(monkeypatch)
    files = [
        RemoteFile("payload.bin", PAYLOAD_SHA, ("https://example.invalid/payload.bin",)),
        RemoteFile("a.gz", "1" * 64, ("https://example.invalid/a.gz", "http://mirror.invalid/a.gz")),
        RemoteFile("b.gz", "2" * 64, ("https://example.invalid/b.gz",)),
    ]
    folder = tmp_path / "cache" / "toy"
    with pytest.raises(DatasetNotFoundError) as info:
        fetch("Toy", files, folder)
    message = str(info.value)
    assert f"Toy: 3 file(s) missing from {folder} (could not be downloaded)" in message
    assert "payload.bin, a.gz, b.gz" in message
    assert "network is unreachable" in message
    assert "https://example.invalid/a.gz or http://mirror.invalid/a.gz" in message
    assert "https://example.invalid/b.gz" in message
    assert f"put them in {folder}" in message and "DEEPGRAD_DATA" in message
    assert not folder.exists() or list(folder.iterdir()) == []


def test_fetch_download_false(source, tmp_path):
    file = RemoteFile("payload.bin", PAYLOAD_SHA, (source.as_uri(),))
    with pytest.raises(DatasetNotFoundError, match=r"\(download=False\): payload.bin"):
        fetch("Toy", [file], tmp_path / "empty", download=False)
    assert not (tmp_path / "empty").exists()


def test_fetch_rejects_a_corrupt_cached_file(source):
    source.write_bytes(PAYLOAD[:-1])  # truncated
    file = RemoteFile("payload.bin", PAYLOAD_SHA, ("https://example.invalid/payload.bin",))
    with pytest.raises(CorruptFileError, match=f"{source} is corrupt.*Delete it and download"):
        fetch("Toy", [file], source.parent)


def test_mnist_downloads_over_file_urls(datasets_root, tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "urls", ((datasets_root / "mnist").as_uri() + "/",))
    test = MNIST(root=tmp_path, train=False)
    assert len(test) == 10000
    names = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert names == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_mnist_offline_error(tmp_path, monkeypatch):
    _offline(monkeypatch)
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(root=tmp_path, train=False)
    message = str(info.value)
    assert f"MNIST: 2 file(s) missing from {tmp_path / 'mnist'}" in message
    assert "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in message
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz" in message
    assert "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz" in message


def test_mnist_rejects_a_corrupted_file(datasets_root, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(datasets_root / "mnist" / name, folder / name)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(labels.read_bytes())
    raw[100] ^= 0xFF
    labels.write_bytes(bytes(raw))
    with pytest.raises(CorruptFileError, match=f"{labels} is corrupt.*Delete it"):
        MNIST(root=tmp_path, train=False)


def test_environment_variable_points_at_the_data(datasets_root, monkeypatch):
    monkeypatch.setenv("DEEPGRAD_DATA", str(datasets_root))
    text = TinyShakespeare(download=False)
    assert text.root == datasets_root and text.text.startswith("First Citizen:")
