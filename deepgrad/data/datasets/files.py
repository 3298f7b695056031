"""Dataset files: where they are cached, how they are downloaded, and how they are verified.

Every file a dataset needs is pinned by its SHA-256. A download goes to a temporary file beside
the target, is hashed while it streams, and is renamed into place only when the hash matches, so
a broken connection never leaves a half-written file under the final name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

_CHUNK = 1 << 20


class DatasetNotFoundError(FileNotFoundError):
    """A dataset file is missing and could not be downloaded."""


class CorruptFileError(OSError):
    """A dataset file does not have the SHA-256 it must have."""


@dataclass(frozen=True)
class RemoteFile:
    """A file of a dataset: its name, its SHA-256, and the addresses it can be downloaded from."""

    name: str
    sha256: str
    urls: tuple[str, ...]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``root`` if given, else ``$DEEPGRAD_DATA``, else ``~/.cache/deepgrad``."""
    if root is None:
        root = os.environ.get("DEEPGRAD_DATA") or Path.home() / ".cache" / "deepgrad"
    return Path(root).expanduser()


def sha256sum(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str) -> Path:
    """Check a file's SHA-256; a mismatch is a ``CorruptFileError`` saying what to do."""
    actual = sha256sum(path)
    if actual != sha256:
        raise CorruptFileError(
            f"{path} is corrupt or incomplete: its SHA-256 is {actual}, expected {sha256}. "
            f"Delete it and download it again."
        )
    return Path(path)


def download(url: str, path: str | os.PathLike, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``path`` atomically; the bytes must have SHA-256 ``sha256``.

    On a mismatch or a failed transfer nothing is left at ``path`` (nor any temporary file).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise CorruptFileError(
                f"download of {url} is corrupt: its SHA-256 is {digest.hexdigest()}, "
                f"expected {sha256}; nothing was saved to {path}"
            )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def fetch(
    dataset: str, files: list[RemoteFile], folder: str | os.PathLike, download: bool = True
) -> list[Path]:
    """The local paths of ``files`` in ``folder``, downloaded first where missing and allowed.

    Files already present are verified, never replaced: a corrupt one is an error to resolve by
    hand. Missing files that cannot be had are reported together, with where to get them.
    """
    folder = Path(folder)
    missing, reasons = [], []
    for file in files:
        path = folder / file.name
        if path.exists():
            verify(path, file.sha256)
        elif download:
            reason = _download_any(file, path)
            if reason:
                missing.append(file)
                reasons.append(reason)
        else:
            missing.append(file)
    if missing:
        raise DatasetNotFoundError(_missing_message(dataset, missing, folder, download, reasons))
    return [folder / file.name for file in files]


def _download_any(file: RemoteFile, path: Path) -> str | None:
    """Try each address in turn; None on success, else why the last one failed."""
    reason = None
    for url in file.urls:
        print(f"Downloading {url} to {path}", file=sys.stderr)
        try:
            download(url, path, file.sha256)
            return None
        except (OSError, http.client.HTTPException) as error:  # URLError, CorruptFileError
            reason = f"{url}: {error}"
    return reason


def _missing_message(dataset, missing, folder, download, reasons) -> str:
    names = ", ".join(file.name for file in missing)
    how = "could not be downloaded" if download else "download=False"
    lines = [f"{dataset}: {len(missing)} file(s) missing from {folder} ({how}): {names}."]
    lines += [f"  last error: {reason}" for reason in reasons]
    lines.append("Download them from the official addresses:")
    lines += [f"  {file.name}: " + " or ".join(file.urls) for file in missing]
    lines.append(
        f"and put them in {folder} (or pass root=, or set DEEPGRAD_DATA, to a folder "
        f"that holds {folder.name}/)."
    )
    return "\n".join(lines)
