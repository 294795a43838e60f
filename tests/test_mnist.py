"""Tests for jaxbp.mnist: the real MNIST copy when present, and every error path
on small synthetic IDX files.  The network is never used: ``jaxbp.mnist.download.fetch``
is replaced by a stub in every test (the real one is exercised with file:// URLs).
Root ignores file permissions, so unreadable folders and files are also
simulated (``os.listdir`` / ``open`` raising ``PermissionError``).
"""

from __future__ import annotations

import builtins
import gzip
import hashlib
import io
import json
import os
import struct
import tracemalloc
import urllib.error
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import mnist_missing_reason
from jaxbp import mnist
from jaxbp.mnist import DatasetError, download, files, idx, load, load_mnist, load_raw

# Captured at import, before the autouse fixture clears the environment.
_REAL_MNIST_DIR = str(mnist.find_data_dir("mnist") or "")  # the loader's own rule

_REAL_FETCH = download.fetch  # saved before the autouse fixture stubs it out
BASES = dict(mnist.FILES)  # key -> base name
N_TRAIN, N_TEST = 5, 3


# --------------------------------------------------------------------------
# synthetic IDX files
# --------------------------------------------------------------------------


def idx_images(n, rows=28, cols=28, magic=2051, seed=0, extra=b"", cut=0):
    rng = np.random.default_rng(seed)
    pix = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    data = struct.pack(">IIII", magic, n, rows, cols) + pix.tobytes() + extra
    return data[: len(data) - cut] if cut else data


def idx_labels(labels, magic=2049, extra=b"", cut=0):
    labels = np.asarray(labels, dtype=np.uint8)
    data = struct.pack(">II", magic, len(labels)) + labels.tobytes() + extra
    return data[: len(data) - cut] if cut else data


def default_payloads():
    return {
        "train-images-idx3-ubyte": idx_images(N_TRAIN, seed=1),
        "train-labels-idx1-ubyte": idx_labels([0, 1, 2, 9, 4]),
        "t10k-images-idx3-ubyte": idx_images(N_TEST, seed=2),
        "t10k-labels-idx1-ubyte": idx_labels([7, 3, 5]),
    }


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Private cache dir, no data env vars, no system dirs, no network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for var in ("JAXBP_DATA_DIR", "JAXBP_FASHION_DATA_DIR", "JAXBP_NO_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(files, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": ()})

    def no_network(url, out, progress):
        raise AssertionError(f"test tried to download {url}")

    monkeypatch.setattr(download, "fetch", no_network)


class Synth:
    """Writes synthetic dataset files and makes the loader expect their hashes."""

    def __init__(self, monkeypatch, tmp_path):
        self.monkeypatch = monkeypatch
        self.dir = tmp_path / "data"
        self.dir.mkdir()
        self.payloads = default_payloads()

    def write(self, gz=True, dataset="mnist", directory=None, **overrides):
        directory = Path(directory) if directory is not None else self.dir
        directory.mkdir(parents=True, exist_ok=True)
        payloads = dict(self.payloads)
        for key, data in overrides.items():
            payloads[BASES[key]] = data
        for base, data in payloads.items():
            if gz:
                (directory / (base + ".gz")).write_bytes(gzip.compress(data, mtime=0))
            else:
                (directory / base).write_bytes(data)
        hashes = {b: hashlib.sha256(d).hexdigest() for b, d in payloads.items()}
        self.monkeypatch.setitem(files.SHA256, dataset, hashes)
        sizes = {b: len(d) for b, d in payloads.items()}
        self.monkeypatch.setitem(files.SIZES, dataset, sizes)
        self.monkeypatch.setitem(files.GZ_MD5, dataset, {})
        return directory


@pytest.fixture
def synth(monkeypatch, tmp_path):
    return Synth(monkeypatch, tmp_path)


def cache_files(tmp_path, dataset="mnist"):
    d = tmp_path / "xdg-cache" / "jaxbp" / dataset
    return sorted(d.glob("*.npz")) if d.is_dir() else []


# --------------------------------------------------------------------------
# the real data
# --------------------------------------------------------------------------


def test_real_mnist(tmp_path, monkeypatch):
    if not _REAL_MNIST_DIR:
        pytest.skip(mnist_missing_reason())
    (x, t), (xt, tt) = load_mnist(data_dir=_REAL_MNIST_DIR, progress=False)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
    assert t.dtype == np.int32 and t.shape == (60000,) and tt.shape == (10000,)
    assert t.min() == 0 and t.max() == 9
    assert np.bincount(t, minlength=10).sum() == 60000
    assert np.bincount(tt, minlength=10).sum() == 10000
    assert t[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the well-known first labels
    # second call comes from the parsed cache: the folder's files are hashed
    # as they are on disk and match the ones the cache was built from
    assert len(cache_files(tmp_path)) == 1

    def no_inflate(chunks, limit):
        raise AssertionError("decompressed again although the cache was valid")

    monkeypatch.setattr(idx, "_inflate", no_inflate)
    (x8, t1h), (x8t, _) = load_mnist(
        normalize=False, flatten=False, one_hot_label=True, data_dir=_REAL_MNIST_DIR, progress=False
    )
    assert x8.shape == (60000, 1, 28, 28) and x8.dtype == np.uint8 and x8.max() == 255
    assert x8t.shape == (10000, 1, 28, 28)
    assert t1h.shape == (60000, 10) and t1h.dtype == np.float32
    np.testing.assert_array_equal(t1h.sum(axis=1), 1.0)
    np.testing.assert_array_equal(t1h.argmax(axis=1), t)
    np.testing.assert_array_equal(x8.reshape(60000, 784).astype(np.float32) / 255, x)


# --------------------------------------------------------------------------
# shapes and conversions (synthetic)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_synthetic_load(synth, gz):
    d = synth.write(gz=gz)
    raw = load_raw(data_dir=d, download=False)
    assert set(raw) == {"x_train", "t_train", "x_test", "t_test"}
    assert raw["x_train"].shape == (N_TRAIN, 28, 28) and raw["x_train"].dtype == np.uint8
    assert raw["t_train"].tolist() == [0, 1, 2, 9, 4] and raw["t_train"].dtype == np.uint8
    assert raw["x_test"].shape == (N_TEST, 28, 28) and raw["t_test"].tolist() == [7, 3, 5]
    assert raw["x_train"].flags.writeable
    expected_pix = np.frombuffer(synth.payloads["train-images-idx3-ubyte"], np.uint8, offset=16)
    np.testing.assert_array_equal(raw["x_train"].ravel(), expected_pix)

    (x, t), (xt, tt) = load_mnist(data_dir=d, download=False)
    assert x.shape == (N_TRAIN, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x, raw["x_train"].reshape(N_TRAIN, -1) / 255.0, rtol=1e-6)
    assert t.dtype == np.int32 and t.tolist() == [0, 1, 2, 9, 4]
    assert xt.shape == (N_TEST, 784) and tt.dtype == np.int32

    (x, t), (xt, tt) = load_mnist(
        normalize=False, flatten=False, one_hot_label=True, data_dir=d, download=False
    )
    assert x.shape == (N_TRAIN, 1, 28, 28) and x.dtype == np.uint8
    assert xt.shape == (N_TEST, 1, 28, 28)
    assert t.shape == (N_TRAIN, 10) and t.dtype == np.float32
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    assert t.argmax(axis=1).tolist() == [0, 1, 2, 9, 4]
    assert tt.argmax(axis=1).tolist() == [7, 3, 5]


def test_mixed_gz_and_raw_files(synth):
    d = synth.write(gz=True)
    base = BASES["t_test"]
    (d / (base + ".gz")).unlink()
    (d / base).write_bytes(synth.payloads[base])
    assert load_raw(data_dir=d, download=False)["t_test"].tolist() == [7, 3, 5]


# --------------------------------------------------------------------------
# corrupt files
# --------------------------------------------------------------------------


def test_truncated_gzip(synth):
    d = synth.write()
    p = d / (BASES["x_train"] + ".gz")
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz.*gzip"):
        load_raw(data_dir=d, download=False)
    assert cache_files(synth.dir.parent) == []  # nothing partial is cached


def test_corrupt_gzip(synth):
    d = synth.write()
    p = d / (BASES["t_train"] + ".gz")
    blob = bytearray(p.read_bytes())
    blob[-8] ^= 0xFF  # CRC32 of the payload
    p.write_bytes(bytes(blob))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz.*gzip"):
        load_raw(data_dir=d, download=False)


def test_not_gzip_at_all(synth):
    d = synth.write()
    (d / (BASES["x_test"] + ".gz")).write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz.*gzip"):
        load_raw(data_dir=d, download=False)


def test_wrong_magic_images(synth):
    d = synth.write(x_train=idx_images(N_TRAIN, magic=2049))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*magic number 2049.*2051"):
        load_raw(data_dir=d, download=False)


def test_wrong_magic_labels(synth):
    d = synth.write(t_test=idx_labels([1, 2, 3], magic=2051))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.*magic number 2051.*2049"):
        load_raw(data_dir=d, download=False)


@pytest.mark.parametrize(
    "key, data, what",
    [
        ("x_train", idx_images(N_TRAIN, cut=1), "truncated"),
        ("x_train", idx_images(N_TRAIN, extra=b"\0"), "trailing"),
        ("t_train", idx_labels([0, 1, 2, 3, 4], cut=2), "truncated"),
        ("t_train", idx_labels([0, 1, 2, 3, 4], extra=b"\1\2"), "trailing"),
        ("x_test", b"\x00\x00\x08", "too short"),
    ],
)
def test_wrong_payload_size(synth, key, data, what):
    d = synth.write(**{key: data})
    with pytest.raises(DatasetError, match=rf"{BASES[key]}.*{what}"):
        load_raw(data_dir=d, download=False)


def test_wrong_image_size(synth):
    d = synth.write(x_test=idx_images(N_TEST, rows=27, cols=28))
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*27x28.*28x28"):
        load_raw(data_dir=d, download=False)


def test_image_label_count_mismatch(synth):
    d = synth.write(t_train=idx_labels([0, 1, 2, 3]))
    with pytest.raises(DatasetError, match=r"5 train images but 4 train labels"):
        load_raw(data_dir=d, download=False)


def test_label_out_of_range(synth):
    d = synth.write(t_test=idx_labels([7, 10, 5]))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.*label 10 out of range"):
        load_raw(data_dir=d, download=False)


def test_checksum_mismatch(synth, monkeypatch):
    d = synth.write()
    base = BASES["x_test"]
    actual = hashlib.sha256(synth.payloads[base]).hexdigest()
    monkeypatch.setitem(files.SHA256["mnist"], base, "ab" * 32)
    with pytest.raises(DatasetError) as ei:
        load_raw(data_dir=d, download=False)
    msg = str(ei.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "ab" * 32 in msg and actual in msg


def test_checksum_of_decompressed_bytes_not_wrapper(synth):
    """A recompressed .gz (other wrapper bytes, same payload) is accepted."""
    d = synth.write()
    base = BASES["x_train"]
    recompressed = gzip.compress(synth.payloads[base], compresslevel=1, mtime=12345)
    (d / (base + ".gz")).write_bytes(recompressed)
    assert load_raw(data_dir=d, download=False)["x_train"].shape == (N_TRAIN, 28, 28)


def test_gz_md5_fallback(synth, monkeypatch):
    """For fashion-mnist, the published MD5 of the upstream .gz is also accepted."""
    d = synth.write(dataset="fashion-mnist")
    base = BASES["t_train"]
    md5 = hashlib.md5((d / (base + ".gz")).read_bytes()).hexdigest()
    monkeypatch.setitem(files.SHA256["fashion-mnist"], base, "00" * 32)
    with pytest.raises(DatasetError, match="SHA-256"):
        load_raw("fashion-mnist", data_dir=d, download=False)
    monkeypatch.setitem(files.GZ_MD5, "fashion-mnist", {base: md5})
    assert load_raw("fashion-mnist", data_dir=d, download=False)["t_train"].shape == (N_TRAIN,)


# --------------------------------------------------------------------------
# where files are looked for
# --------------------------------------------------------------------------


def test_missing_files_no_download_data_dir(tmp_path):
    d = tmp_path / "empty"
    with pytest.raises(DatasetError) as ei:
        load_raw(data_dir=d, download=False)
    msg = str(ei.value)
    assert (
        str(d) in msg and "give data_dir the folder" in msg and "train-images-idx3-ubyte.gz" in msg
    )
    assert "JAXBP_DATA_DIR" not in msg  # data_dir overrides the variable: no point naming it


def test_missing_files_no_download_default(tmp_path):
    with pytest.raises(DatasetError) as ei:
        load_mnist(download=False)
    msg = str(ei.value)
    assert str(tmp_path / "xdg-cache" / "jaxbp" / "mnist") in msg and "JAXBP_DATA_DIR" in msg


def test_missing_fashion_names_its_env_var(tmp_path):
    with pytest.raises(DatasetError, match="JAXBP_FASHION_DATA_DIR"):
        load_raw("fashion-mnist", download=False)


def test_env_var_dir(synth, monkeypatch):
    d = synth.write()
    monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    assert load_raw(download=False)["t_train"].tolist() == [0, 1, 2, 9, 4]


def test_env_dir_incomplete_is_an_error_not_a_fallback(synth, monkeypatch, tmp_path):
    """The env-var folder lacks a file: an error naming it, even though the
    per-user cache folder is complete, and nothing is downloaded into it."""
    d = synth.write()
    (d / (BASES["t_test"] + ".gz")).unlink()
    monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    synth.write(directory=mnist.default_cache_dir("mnist"))
    with pytest.raises(DatasetError, match=r"JAXBP_DATA_DIR.*lacks t10k-labels-idx1-ubyte"):
        load_raw(progress=False)  # download=True: the stub fetch would fail the test


def test_data_dir_is_exclusive(synth, monkeypatch, tmp_path):
    d = synth.write()
    monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    with pytest.raises(DatasetError, match="elsewhere.*does not exist"):
        load_raw(data_dir=tmp_path / "elsewhere", download=False)


def test_fashion_env_var_and_system_dir(synth, monkeypatch, tmp_path):
    d = synth.write(dataset="fashion-mnist")
    monkeypatch.setenv("JAXBP_DATA_DIR", str(d))  # mnist's variable: ignored for fashion
    monkeypatch.setenv("JAXBP_NO_CACHE", "1")
    with pytest.raises(DatasetError):
        load_raw("fashion-mnist", download=False)
    monkeypatch.setenv("JAXBP_FASHION_DATA_DIR", str(d))
    assert load_raw("fashion-mnist", download=False)["t_test"].tolist() == [7, 3, 5]
    monkeypatch.delenv("JAXBP_FASHION_DATA_DIR")
    monkeypatch.setattr(files, "SYSTEM_DIRS", {"mnist": (), "fashion-mnist": (str(d),)})
    assert load_raw("fashion-mnist", download=False)["t_test"].tolist() == [7, 3, 5]


def test_unknown_dataset():
    with pytest.raises(ValueError, match=r"'kmnist'.*mnist, fashion-mnist"):
        load_raw("kmnist")
    with pytest.raises(ValueError, match="known datasets"):
        load_mnist(dataset="emnist")


def test_default_cache_dir(monkeypatch, tmp_path):
    expected = tmp_path / "xdg-cache" / "jaxbp" / "fashion-mnist"
    assert mnist.default_cache_dir("fashion-mnist") == expected
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist.default_cache_dir() == tmp_path / "home" / ".cache" / "jaxbp" / "mnist"


# --------------------------------------------------------------------------
# downloading (stubbed download.fetch; never the network)
# --------------------------------------------------------------------------


def _copying_fetch(source_dir, calls, fail_prefixes=()):
    def fetch(url, out, progress):
        calls.append(url)
        if url.startswith(tuple(fail_prefixes)):
            raise OSError("HTTP Error 403: Forbidden")
        name = url.rsplit("/", 1)[-1]
        out.write((Path(source_dir) / name).read_bytes())

    return fetch


def test_download_success(synth, monkeypatch, tmp_path):
    src = synth.write(directory=tmp_path / "mirror")
    calls = []
    monkeypatch.setattr(download, "fetch", _copying_fetch(src, calls))
    raw = load_raw(progress=False)
    assert raw["t_train"].tolist() == [0, 1, 2, 9, 4]
    target = mnist.default_cache_dir("mnist")
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".npz")) == sorted(
        b + ".gz" for b in BASES.values()
    )  # no temp files left
    assert len(calls) == 4 and all(c.startswith(files.MIRRORS["mnist"][0]) for c in calls)
    # next time nothing is fetched (npz cache, or else the downloaded files)
    monkeypatch.setenv("JAXBP_NO_CACHE", "1")
    load_raw(progress=False)
    assert len(calls) == 4


def test_download_only_missing_files_into_data_dir(synth, monkeypatch, tmp_path):
    src = synth.write(directory=tmp_path / "mirror")
    d = synth.write()
    (d / (BASES["t_test"] + ".gz")).unlink()
    calls = []
    monkeypatch.setattr(download, "fetch", _copying_fetch(src, calls))
    assert load_raw(data_dir=d, progress=False)["t_test"].tolist() == [7, 3, 5]
    assert [c.rsplit("/", 1)[-1] for c in calls] == ["t10k-labels-idx1-ubyte.gz"]
    assert (d / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_falls_back_to_next_mirror(synth, monkeypatch, tmp_path):
    src = synth.write(directory=tmp_path / "mirror")
    first = files.MIRRORS["mnist"][0]
    calls = []
    monkeypatch.setattr(download, "fetch", _copying_fetch(src, calls, fail_prefixes=[first]))
    load_raw(progress=False)
    assert len(calls) == 8
    assert [c.startswith(first) for c in calls] == [True, False] * 4


def test_download_all_mirrors_fail(monkeypatch, tmp_path):
    calls = []

    def failing(url, out, progress):
        calls.append(url)
        out.write(b"partial")
        raise OSError("Name or service not known")

    monkeypatch.setattr(download, "fetch", failing)
    d = tmp_path / "dl"
    d.mkdir()
    with pytest.raises(DatasetError) as ei:
        load_raw(data_dir=d, progress=False)
    msg = str(ei.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(d) in msg and "JAXBP_DATA_DIR" in msg
    for mirror in files.MIRRORS["mnist"]:
        assert mirror in msg
    assert "Name or service not known" in msg
    assert len(calls) == len(files.MIRRORS["mnist"])  # stops at the first file
    assert list(d.iterdir()) == []  # no temp files, no final file


def test_download_failed_verify_leaves_nothing(synth, monkeypatch, tmp_path):
    src = synth.write(directory=tmp_path / "mirror")
    monkeypatch.setitem(files.SHA256["mnist"], BASES["x_train"], "cd" * 32)
    calls = []
    monkeypatch.setattr(download, "fetch", _copying_fetch(src, calls))
    d = tmp_path / "dl"
    d.mkdir()
    with pytest.raises(
        DatasetError, match=r"(?s)could not download train-images-idx3-ubyte\.gz.*SHA-256"
    ):
        load_raw(data_dir=d, progress=False)
    assert len(calls) == len(files.MIRRORS["mnist"])
    assert list(d.iterdir()) == []


def test_download_fashion_mirrors(synth, monkeypatch, tmp_path):
    src = synth.write(directory=tmp_path / "mirror", dataset="fashion-mnist")
    calls = []
    monkeypatch.setattr(download, "fetch", _copying_fetch(src, calls))
    load_raw("fashion-mnist", progress=False)
    assert all(c.startswith(files.MIRRORS["fashion-mnist"][0]) for c in calls)
    assert (mnist.default_cache_dir("fashion-mnist") / "train-images-idx3-ubyte.gz").is_file()


def test_real_fetch_with_file_url(tmp_path, capsys):
    """The real urllib-based download.fetch, on file:// URLs (no network)."""
    src = tmp_path / "t10k-images-idx3-ubyte.gz"
    payload = os.urandom(200_000)
    src.write_bytes(payload)
    out = io.BytesIO()
    _REAL_FETCH(src.as_uri(), out, True)
    assert out.getvalue() == payload
    err = capsys.readouterr().err
    assert "t10k-images-idx3-ubyte.gz" in err and "100%" in err
    out2 = io.BytesIO()
    _REAL_FETCH(src.as_uri(), out2, False)
    assert out2.getvalue() == payload and capsys.readouterr().err == ""
    with pytest.raises(OSError):
        _REAL_FETCH((tmp_path / "missing.gz").as_uri(), io.BytesIO(), False)


# --------------------------------------------------------------------------
# parsed .npz cache
# --------------------------------------------------------------------------


def test_cache_round_trip(synth, tmp_path):
    d = synth.write()
    first = load_raw(data_dir=d, download=False)
    (npz,) = cache_files(tmp_path)
    assert npz.parent == mnist.default_cache_dir("mnist")
    assert [p.name for p in npz.parent.iterdir()] == [npz.name]  # no temp files
    second = load_raw(data_dir=d, download=False)  # the same files: read from the cache
    for k in first:
        np.testing.assert_array_equal(first[k], second[k])
        assert second[k].dtype == np.uint8
    # remove the sources: the cache never stands in for the files, named or not
    for p in d.iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match=r"data.*lacks train-images-idx3-ubyte"):
        load_raw(data_dir=d, download=False)
    with pytest.raises(DatasetError, match="files not found"):
        load_raw(download=False)


def test_a_copy_read_through_the_variable_is_not_found_without_it(synth, monkeypatch):
    """A parsed copy made while JAXBP_DATA_DIR was set used to be found later without it:
    the trainer found MNIST where the tests (and README) said there was none."""
    monkeypatch.setenv("JAXBP_DATA_DIR", str(synth.write()))
    load_raw(download=False)
    monkeypatch.delenv("JAXBP_DATA_DIR")
    with pytest.raises(DatasetError, match="files not found"):
        load_raw(download=False)


def test_messages_name_the_folder_as_the_user_gave_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as e:
        load_raw(data_dir=missing, download=False, given_as="--data-dir")
    line = str(e.value)
    assert "(from --data-dir)" in line and "give --data-dir the folder" in line
    assert "JAXBP_DATA_DIR" not in line and "data_dir=" not in line  # the flag overrides it
    with pytest.raises(DatasetError, match=r"\(from data_dir\)"):
        load_raw(data_dir=missing, download=False)


@pytest.mark.parametrize("kind", ["garbage", "bad-shapes"])
def test_corrupt_cache_is_rebuilt(synth, tmp_path, kind):
    d = synth.write()
    load_raw(data_dir=d, download=False)
    (npz,) = cache_files(tmp_path)
    if kind == "garbage":
        npz.write_bytes(b"PK\x03\x04 definitely not a zip")
    else:
        with open(npz, "wb") as f:
            np.savez(
                f,
                x_train=np.zeros((2, 3), np.uint8),
                t_train=np.zeros(2, np.uint8),
                x_test=np.zeros((1, 28, 28), np.uint8),
                t_test=np.zeros(1, np.uint8),
            )
    raw = load_raw(data_dir=d, download=False)
    assert raw["x_train"].shape == (N_TRAIN, 28, 28)
    with np.load(npz) as z:  # rebuilt
        assert z["x_train"].shape == (N_TRAIN, 28, 28)


def test_cache_keyed_by_hashes(synth, monkeypatch, tmp_path):
    d = synth.write()
    load_raw(data_dir=d, download=False)
    other = default_payloads()
    other["train-labels-idx1-ubyte"] = idx_labels([9, 9, 9, 9, 9])
    synth.payloads = other
    synth.write()  # new files, new expected hashes: the old npz must not be used
    assert load_raw(data_dir=d, download=False)["t_train"].tolist() == [9] * 5
    assert len(cache_files(tmp_path)) == 2


def test_no_cache_env(synth, monkeypatch, tmp_path):
    monkeypatch.setenv("JAXBP_NO_CACHE", "1")
    d = synth.write()
    load_raw(data_dir=d, download=False)
    assert cache_files(tmp_path) == []


# --------------------------------------------------------------------------
# the loader trusts nothing it did not verify
# --------------------------------------------------------------------------


def _tamper_cache(npz, **arrays):
    """Rewrite the cache with some arrays replaced, keeping everything else."""
    with np.load(npz) as z:
        content = {k: z[k] for k in z.files}
    content.update(arrays)
    with open(npz, "wb") as f:
        np.savez(f, **content)


@pytest.mark.parametrize("how", ["default", "data_dir", "env"])
def test_tampered_cache_is_rebuilt_not_trained_on(synth, monkeypatch, tmp_path, how):
    """Before: a cache whose labels are all 0 passed the shape/range check and
    was returned (the CLI trained to accuracy 1.0000)."""
    d = synth.write(directory=mnist.default_cache_dir("mnist") if how == "default" else None)
    kwargs = {"data_dir": d} if how == "data_dir" else {}
    if how == "env":
        monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    load_raw(download=False, **kwargs)
    (npz,) = cache_files(tmp_path)
    _tamper_cache(npz, t_train=np.zeros(N_TRAIN, np.uint8))
    assert load_raw(download=False, **kwargs)["t_train"].tolist() == [0, 1, 2, 9, 4]
    with np.load(npz) as z:  # rebuilt from the verified files
        assert z["t_train"].tolist() == [0, 1, 2, 9, 4]


def test_tampered_cache_with_recorded_digest_updated_is_still_refused(synth, tmp_path):
    """The arrays must reproduce the expected checksums of the IDX files, not
    only the digest written next to them."""
    d = synth.write(directory=mnist.default_cache_dir("mnist"))
    load_raw(download=False)
    (npz,) = cache_files(tmp_path)
    with np.load(npz) as z:
        meta = json.loads(str(z["meta"][()]))
    bad = np.zeros(N_TRAIN, np.uint8)
    meta["sha256"]["t_train"] = idx.idx_sha256(bad, "labels")
    _tamper_cache(npz, t_train=bad, meta=np.array(json.dumps(meta)))
    assert load_raw(download=False)["t_train"].tolist() == [0, 1, 2, 9, 4]
    for p in d.glob("*.gz"):  # no verified source left: the tampered cache is not used
        p.unlink()
    _tamper_cache(npz, t_train=bad, meta=np.array(json.dumps(meta)))
    with pytest.raises(DatasetError, match="files not found"):
        load_raw(download=False)


def test_cache_records_digests(synth, tmp_path):
    d = synth.write()
    load_raw(data_dir=d, download=False)
    (npz,) = cache_files(tmp_path)
    with np.load(npz) as z:
        meta = json.loads(str(z["meta"][()]))
    for key, base in BASES.items():
        assert meta["sha256"][key] == hashlib.sha256(synth.payloads[base]).hexdigest()
        on_disk = hashlib.sha256((d / (base + ".gz")).read_bytes()).hexdigest()
        assert meta["sources"][base] == [on_disk]


def test_cache_declaring_huge_arrays_is_not_read(synth, tmp_path):
    synth.write(directory=mnist.default_cache_dir("mnist"))
    load_raw(download=False)
    (npz,) = cache_files(tmp_path)
    _tamper_cache(npz, x_train=np.zeros((100, 28, 28), np.uint8), t_train=np.zeros(100, np.uint8))
    assert load_raw(download=False)["x_train"].shape == (N_TRAIN, 28, 28)


def test_data_dir_that_does_not_exist_is_an_error(synth, monkeypatch, tmp_path):
    """Before: a typo in --data-dir was ignored (the cache answered)."""
    load_raw(data_dir=synth.write(), download=False)  # a valid cache exists
    assert len(cache_files(tmp_path)) == 1
    typo = tmp_path / "dta"
    with pytest.raises(DatasetError, match=rf"{typo} \(from data_dir\) does not exist"):
        load_raw(data_dir=typo, progress=False)  # download=True: still no download
    assert not typo.exists()


def test_env_dir_that_does_not_exist_is_an_error(synth, monkeypatch, tmp_path):
    """Before: a JAXBP_DATA_DIR that did not exist fell back to the cache / cache folder."""
    synth.write(directory=mnist.default_cache_dir("mnist"))
    load_raw(download=False)  # cache folder complete, parsed cache valid
    monkeypatch.setenv("JAXBP_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match=r"nowhere \(from \$JAXBP_DATA_DIR\) does not exist"):
        load_raw(progress=False)


@pytest.mark.parametrize("how", ["data_dir", "env"])
def test_corrupt_data_dir_is_noticed_despite_cache(synth, monkeypatch, tmp_path, how):
    """Before: a corrupt --data-dir went unnoticed because the cache was read first."""
    d = synth.write()
    load_raw(data_dir=d, download=False)
    p = d / (BASES["x_train"] + ".gz")
    p.write_bytes(p.read_bytes()[:-20])
    kwargs = {"data_dir": d} if how == "data_dir" else {}
    if how == "env":
        monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    with pytest.raises(
        DatasetError, match=r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip"
    ):
        load_raw(download=False, **kwargs)


def test_named_dir_uses_cache_only_for_verified_bytes(synth, monkeypatch, tmp_path):
    """Identical files: served from the cache without decompressing; other
    bytes (here a recompressed wrapper of the same payload) are verified in full."""
    d = synth.write()
    load_raw(data_dir=d, download=False)
    real_inflate = idx._inflate
    calls = []

    def counting(chunks, limit):
        calls.append(limit)
        return real_inflate(chunks, limit)

    monkeypatch.setattr(idx, "_inflate", counting)
    assert load_raw(data_dir=d, download=False)["t_test"].tolist() == [7, 3, 5]
    assert calls == []
    base = BASES["t_test"]
    (d / (base + ".gz")).write_bytes(gzip.compress(synth.payloads[base], compresslevel=1, mtime=7))
    assert load_raw(data_dir=d, download=False)["t_test"].tolist() == [7, 3, 5]
    assert len(calls) == 4
    calls.clear()
    assert load_raw(data_dir=d, download=False)["t_test"].tolist() == [7, 3, 5]
    assert calls == []  # the new wrapper is now known too


def _gzip_of_zeros(n_bytes):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(n_bytes >> 20)]
    return b"".join(parts) + c.flush()


def test_gzip_bomb_stops_at_expected_size(synth):
    """Before: a small .gz was inflated whole (here 64 MiB) before its hash was checked."""
    d = synth.write()
    bomb = _gzip_of_zeros(64 << 20)
    assert len(bomb) < 300_000
    (d / (BASES["t_test"] + ".gz")).write_bytes(bomb)
    tracemalloc.start()
    try:
        with pytest.raises(
            DatasetError,
            match=r"t10k-labels-idx1-ubyte\.gz: data longer than "
            r"the expected 11 bytes",
        ):
            load_raw(data_dir=d, download=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_oversized_raw_file_is_refused(synth):
    d = synth.write(gz=False)
    (d / BASES["t_test"]).write_bytes(idx_labels([7, 3, 5]) + bytes(5 << 20))
    with pytest.raises(
        DatasetError, match=r"t10k-labels-idx1-ubyte: data longer than the expected 11 bytes"
    ):
        load_raw(data_dir=d, download=False)


def test_unreadable_data_folder(synth, monkeypatch):
    d = synth.write()
    monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    real_listdir = os.listdir

    def listdir(path="."):
        if Path(path) == d:
            raise PermissionError(13, "Permission denied", str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)
    with pytest.raises(DatasetError, match=rf"cannot read the data folder {d}: PermissionError"):
        load_raw(download=False)


def test_unreadable_data_file(synth, monkeypatch):
    d = synth.write()
    real_open = builtins.open
    target = d / (BASES["x_test"] + ".gz")

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file) == target:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_open)
    with pytest.raises(DatasetError, match=rf"cannot read {target}: PermissionError"):
        load_raw(data_dir=d, download=False)


def test_data_dir_that_is_a_file_or_under_one(tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    for d in (f, f / "sub"):
        with pytest.raises(DatasetError, match=rf"cannot read the data folder {d}"):
            load_raw(data_dir=d, download=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_unreadable_data_folder_real_permissions(synth, tmp_path):
    d = synth.write()
    d.chmod(0)
    try:
        with pytest.raises(DatasetError, match=rf"cannot read the data folder {d}"):
            load_raw(data_dir=d, download=False)
    finally:
        d.chmod(0o755)


def test_offline_is_one_line_with_how_to_get_the_data(monkeypatch, tmp_path):
    def offline(url, out, progress):
        raise urllib.error.URLError(OSError(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(download, "fetch", offline)
    with pytest.raises(DatasetError) as ei:
        load_raw(progress=False)
    msg = str(ei.value)
    assert "\n" not in msg
    assert "could not download train-images-idx3-ubyte.gz" in msg
    assert "Temporary failure in name resolution" in msg
    assert "JAXBP_DATA_DIR" in msg and str(mnist.default_cache_dir("mnist")) in msg
    assert [p.name for p in mnist.default_cache_dir("mnist").iterdir()] == []  # no temp file


def test_cache_write_replaces_planted_symlink(synth, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    synth.write()
    npz = load.cache_path("mnist")  # (keyed by the expected hashes set just above)
    npz.parent.mkdir(parents=True)
    npz.symlink_to(victim)
    load_raw(data_dir=synth.dir, download=False)
    assert victim.read_bytes() == b"keep me"
    assert npz.is_file() and not npz.is_symlink()
    assert sorted(p.name for p in npz.parent.iterdir()) == [npz.name]


def test_cache_write_failure_leaves_no_temp_file(synth, monkeypatch, tmp_path):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    d = synth.write()
    assert load_raw(data_dir=d, download=False)["t_test"].tolist() == [7, 3, 5]
    assert list(mnist.default_cache_dir("mnist").iterdir()) == []


def test_find_data_dir(synth, monkeypatch, tmp_path):
    assert mnist.find_data_dir() is None
    d = synth.write()
    assert mnist.find_data_dir(data_dir=d) == d
    monkeypatch.setenv("JAXBP_DATA_DIR", str(d))
    assert mnist.find_data_dir() == d
    monkeypatch.delenv("JAXBP_DATA_DIR")
    cache_dir = synth.write(directory=mnist.default_cache_dir("mnist"))
    assert mnist.find_data_dir() == cache_dir


def test_real_mnist_tampered_cache_and_env_var(tmp_path, monkeypatch):
    """On the real copy: a cache with all labels 0 is never returned, through
    $JAXBP_DATA_DIR (verified first) or through the default search."""
    if not _REAL_MNIST_DIR:
        pytest.skip(mnist_missing_reason())
    monkeypatch.setenv("JAXBP_DATA_DIR", _REAL_MNIST_DIR)
    load_raw(progress=False)
    (npz,) = cache_files(tmp_path)
    _tamper_cache(npz, t_train=np.zeros(60000, np.uint8))
    assert load_raw(progress=False)["t_train"][:5].tolist() == [5, 0, 4, 1, 9]
    _tamper_cache(npz, t_test=np.zeros(10000, np.uint8))
    monkeypatch.delenv("JAXBP_DATA_DIR")
    with pytest.raises(DatasetError, match="files not found"):
        load_raw(download=False)  # nothing verified left to load from
