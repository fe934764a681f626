"""Trajectories that do not fit in memory.

Many long trajectories of a protein, featurised to hundreds of features, easily
exceed a machine's memory. :func:`featurize_to_zarr` turns trajectory files into a
Zarr store of features, one array per file, reading each file in chunks with
``mdtraj.iterload`` (one Dask task per file on a cluster, or one after the other
locally); :func:`open_feature_store` gives back a :class:`FeatureStore`, a list of
:class:`LazyTrajectory` objects that read frames only when sliced.

The network estimators train from such a list without loading it:
:class:`PairBlocks` cuts the time-lagged pairs of every trajectory into contiguous
blocks, the training loop reads a few blocks at a time into a shuffle buffer and
draws minibatches from it, and statistics (feature scaling, the SRV's final
covariances) are accumulated in one streaming pass. Peak memory is set by the
block and buffer sizes, not by the data.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._base import mean_and_std
from ._data import check_bool, check_int, check_lagtime

__all__ = [
    "LazyTrajectory",
    "FeatureStore",
    "featurize_to_zarr",
    "open_feature_store",
]

STORE_FORMAT = "sklss-features/1"

# Pairs per block, at most: a block is read from the store in one slice.
BLOCK_PAIRS = 16_384
# Bytes of frames per block, at most (wide features make shorter blocks).
BLOCK_BYTES = 8 * 2**20
# Blocks held at once while training: minibatches are drawn from their pairs.
BUFFER_BLOCKS = 8
# Frames per read in streaming passes over whole trajectories, at most (and at
# most BLOCK_BYTES of them).
READ_FRAMES = 65_536


class LazyTrajectory:
    """One trajectory of a feature store, read only when sliced.

    It behaves as a read-only 2-D array of shape ``(n_frames, n_features)`` for
    what sklss needs: ``len``, ``shape``, ``dtype``, slicing (which reads the
    frames and returns an ndarray) and ``np.asarray`` (which reads everything).
    Estimators given a list of them train without loading them whole.

    Parameters
    ----------
    array : zarr.Array or array-like
        Anything with ``shape``, ``dtype`` and slicing along the first axis.
    name : str, default=""
        Where the frames come from (a trajectory file), for messages.
    """

    ndim = 2
    # Recognised by the data model's checks, which then read nothing.
    _sklss_lazy = True

    def __init__(self, array, name=""):
        if len(getattr(array, "shape", ())) != 2:
            raise ValueError(
                "array must be 2-D (n_frames, n_features); got shape "
                f"{getattr(array, 'shape', None)}."
            )
        self._array = array
        self.name = str(name)

    @property
    def shape(self):
        return tuple(int(n) for n in self._array.shape)

    @property
    def dtype(self):
        return np.dtype(self._array.dtype)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        return np.asarray(self._array[key])

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self._array[:])
        return out if dtype is None else out.astype(dtype, copy=False)

    def iter_chunks(self, n_frames=None):
        """Yield ``(start, frames)`` for consecutive slices of ``n_frames``
        (None: up to 8 MiB of frames at a time)."""
        if n_frames is None:
            row = self.shape[1] * self.dtype.itemsize
            n_frames = int(np.clip(BLOCK_BYTES // row, 64, READ_FRAMES))
        for start in range(0, len(self), n_frames):
            yield start, self[start : start + n_frames]

    def __repr__(self):
        where = f" from {self.name!r}" if self.name else ""
        return f"<LazyTrajectory{where}: {self.shape[0]} frames x {self.shape[1]}>"


class FeatureStore(list):
    """The trajectories of a feature store: a list of :class:`LazyTrajectory`.

    Returned by :func:`open_feature_store` and :func:`featurize_to_zarr`. Pass it
    wherever sklss takes a list of trajectories: the encoders and propagators train
    from it in a streaming fashion, ``transform`` reads it in chunks.

    Attributes
    ----------
    path : pathlib.Path
        The store.
    files : list of str
        The trajectory file of each trajectory.
    feature_names : list of str or None
        Names of the features (from the featuriser), if known.
    timestep : float or None
        Time between stored frames, in ps (with ``stride`` applied), when the
        files that record one (DCD files do not) agree; else None.
    attrs : dict
        Everything the store records.
    """

    def __init__(self, trajectories, *, path, attrs):
        super().__init__(trajectories)
        self.path = Path(path)
        self.attrs = attrs
        self.files = list(attrs.get("files", []))
        self.feature_names = attrs.get("feature_names")
        self.timestep = attrs.get("timestep")

    @property
    def n_frames(self):
        return sum(len(t) for t in self)

    @property
    def n_features(self):
        return self[0].shape[1]

    @property
    def nbytes(self):
        """Size of the features in memory (what loading them all would take)."""
        return sum(int(np.prod(t.shape)) * t.dtype.itemsize for t in self)

    def __repr__(self):
        return (
            f"<FeatureStore {str(self.path)!r}: {len(self)} trajectories, "
            f"{self.n_frames} frames x {self.n_features} features>"
        )


def is_lazy(trajectories):
    """Whether any trajectory of a validated list is read lazily."""
    return any(isinstance(t, LazyTrajectory) for t in trajectories)


# ------------------------------------------------------------ streaming passes


@dataclass
class FrameStatistics:
    """Per-feature statistics of all frames, from one streaming pass."""

    n_frames: int
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray


def check_finite_chunk(frames, name, start):
    """Raise the data model's error for NaN or infinity in a chunk read lazily."""
    if not np.all(np.isfinite(frames)):
        bad = np.argwhere(~np.isfinite(frames))[0]
        raise ValueError(
            f"{name} contains NaN or infinity (frame {start + int(bad[0])}, feature "
            f"{int(bad[1])}): every value must be finite."
        )


def frame_statistics(trajectories, name="X", *, min_length=1):
    """Mean, standard deviation, minimum and maximum of every feature over the
    frames of the trajectories with at least ``min_length`` frames, in float64,
    reading lazily held ones in chunks (Chan's pairwise update of the moments)."""
    n, mean, m2 = 0, None, None
    lo = hi = None
    for i, t in enumerate(trajectories):
        if len(t) < min_length:
            continue
        label = f"{name}[{i}]" if len(trajectories) > 1 else name
        chunks = (
            t.iter_chunks() if isinstance(t, LazyTrajectory) else [(0, np.asarray(t))]
        )
        for start, x in chunks:
            if isinstance(t, LazyTrajectory):
                check_finite_chunk(x, label, start)
            x = np.asarray(x, dtype=np.float64)
            k = len(x)
            m, s = mean_and_std(x)
            if mean is None:
                n, mean, m2 = k, m, s * s * k
                lo, hi = x.min(axis=0), x.max(axis=0)
                continue
            delta = m - mean
            total = n + k
            mean = mean + delta * (k / total)
            m2 = m2 + s * s * k + delta * delta * (n * k / total)
            n = total
            lo, hi = np.minimum(lo, x.min(axis=0)), np.maximum(hi, x.max(axis=0))
    return FrameStatistics(n, mean, np.sqrt(m2 / n), lo, hi)


class PairBlocks:
    """The time-lagged pairs of a list of trajectories, in contiguous blocks.

    Block ``(i, a, b)`` holds the pairs ``(x_t, x_{t+lagtime})`` of trajectory
    ``i`` for ``a <= t < b``: one read of frames ``a .. b + lagtime``. No pair spans
    two trajectories. Lazily held trajectories are read block by block; values are
    checked to be finite as they are read.

    Parameters
    ----------
    trajectories : list of ndarray or LazyTrajectory
        Validated trajectories (shorter ones than ``lagtime + 1`` are skipped).
    lagtime : int
    name : str, default="X"
        The argument, for messages.
    block_pairs : int or None, default=None
        Pairs per block; None: as many as hold ``BLOCK_BYTES`` of frames, at most
        ``BLOCK_PAIRS``.
    """

    def __init__(self, trajectories, lagtime, *, name="X", block_pairs=None):
        if block_pairs is None:
            first = trajectories[0]
            frame_bytes = first.shape[1] * np.dtype(first.dtype).itemsize
            block_pairs = int(np.clip(BLOCK_BYTES // frame_bytes, 64, BLOCK_PAIRS))
        self.block_pairs = block_pairs
        self.trajectories = trajectories
        self.lagtime = check_lagtime(lagtime)
        self.name = name
        self.blocks = []
        for i, t in enumerate(trajectories):
            n = len(t) - self.lagtime
            for a in range(0, max(n, 0), block_pairs):
                self.blocks.append((i, a, min(a + block_pairs, n)))
        self.n_pairs = sum(b - a for _, a, b in self.blocks)

    def read(self, block):
        """The pairs of one block: ``(X0, X1)`` arrays of shape (b - a, n_features)."""
        i, a, b = block
        frames = np.asarray(self.trajectories[i][a : b + self.lagtime])
        label = f"{self.name}[{i}]" if len(self.trajectories) > 1 else self.name
        check_finite_chunk(frames, label, a)
        return frames[: b - a], frames[self.lagtime :]

    def read_many(self, blocks):
        """The pairs of several blocks, concatenated in the order given (read one
        block at a time into the result)."""
        n = sum(b - a for _, a, b in blocks)
        first = self.trajectories[blocks[0][0]]
        shape = (n, first.shape[1])
        dtype = np.result_type(*[self.trajectories[i].dtype for i, _, _ in blocks])
        X0, X1 = np.empty(shape, dtype), np.empty(shape, dtype)
        row = 0
        for block in blocks:
            A, B = self.read(block)
            X0[row : row + len(A)] = A
            X1[row : row + len(B)] = B
            row += len(A)
        return X0, X1

    def split(self, validation_fraction, generator):
        """Whole blocks held out for validation: ``(train_blocks, val_blocks)``.

        At least one block on each side when there are two or more blocks and
        ``validation_fraction > 0``; else every block trains and ``val_blocks`` is
        None.
        """
        import torch

        n = len(self.blocks)
        n_val = int(round(validation_fraction * n))
        if validation_fraction > 0 and n >= 2:
            n_val = min(max(n_val, 1), n - 1)
        else:
            n_val = 0
        order = torch.randperm(n, generator=generator).tolist()
        train = [self.blocks[j] for j in sorted(order[n_val:])]
        val = [self.blocks[j] for j in sorted(order[:n_val])] or None
        return train, val

    def minibatches(
        self,
        blocks,
        batch_size,
        generator,
        *,
        reverse=False,
        buffer_blocks=BUFFER_BLOCKS,
    ):
        """Minibatches ``(X0, X1)`` (ndarrays) of one epoch over ``blocks``.

        The blocks are visited in a random order, ``buffer_blocks`` at a time; the
        pairs of the buffer (and, when ``reverse``, every pair reversed as well)
        are shuffled and cut into minibatches of near-equal size close to
        ``batch_size``.
        """
        import torch

        order = torch.randperm(len(blocks), generator=generator).tolist()
        for g in range(0, len(order), buffer_blocks):
            X0, X1 = self.read_many([blocks[j] for j in order[g : g + buffer_blocks]])
            if reverse:
                X0, X1 = np.concatenate([X0, X1]), np.concatenate([X1, X0])
            perm = torch.randperm(len(X0), generator=generator).numpy()
            n_batches = max(1, -(-len(X0) // batch_size))
            for idx in np.array_split(perm, n_batches):
                if len(idx):
                    yield X0[idx], X1[idx]


# ----------------------------------------------------------------- featurising


def _require_zarr():
    from ._distributed import _require

    return _require("zarr")


def _file_key(index):
    return f"trajectory_{index:05d}"


def _featurize_file(featurizer, path, file, top, index, chunk_frames, stride):
    """Featurise one file in chunks into its own array of the store."""
    import mdtraj

    from ._distributed import _create_array, _update_attrs
    from ._molecules import recorded_timestep

    zarr = _require_zarr()
    group = zarr.open_group(str(path), mode="r+")
    key = _file_key(index)
    if key in group:
        del group[key]
    array = None
    timestep = None
    for chunk in mdtraj.iterload(file, top=top, chunk=chunk_frames, stride=stride):
        features = np.asarray(featurizer.transform(chunk), dtype=np.float32)
        if array is None:
            array = _create_array(
                group,
                key,
                shape=(0, features.shape[1]),
                chunks=(chunk_frames, features.shape[1]),
                dtype="float32",
                fill_value=np.nan,
                dims=("frame", "feature"),
            )
            # With stride, mdtraj's times are those of the frames kept.
            timestep = recorded_timestep(chunk)
        array.append(features, axis=0)
    if array is None:
        raise ValueError(f"the trajectory file {file!r} has no frames.")
    # After the data: an array marked complete is complete on disk.
    _update_attrs(
        array,
        {"complete": True, "file": str(file), "timestep": timestep},
    )
    return index


def featurize_to_zarr(
    featurizer,
    trajectories,
    path,
    *,
    top=None,
    stride=1,
    chunk_frames=1000,
    client=None,
    overwrite=False,
    verbose=True,
):
    """Featurise trajectory files into a Zarr store, one file at a time.

    Every file is read in chunks of ``chunk_frames`` frames with
    ``mdtraj.iterload`` and featurised chunk by chunk, so memory never holds more
    than one chunk per file being processed; each file becomes one trajectory of
    the store. With a Dask ``client`` every file is one task on the cluster.
    Files finished before an interruption are kept: calling again with the same
    arguments featurises only the missing ones.

    Parameters
    ----------
    featurizer : transformer
        A featuriser of mdtraj trajectories, such as
        :class:`~sklss.TorsionFeaturizer` or :class:`~sklss.DistanceFeaturizer`
        (unfitted: it is fitted here on the first frame of the first file).
    trajectories : str, path or list of such
        Trajectory files mdtraj can read (DCD, XTC, TRR, NetCDF, HDF5, PDB, ...).
    path : str or path
        Directory of the Zarr store.
    top : str, path or mdtraj.Topology, optional
        Topology for files that hold none (DCD, XTC, TRR).
    stride : int, default=1
        Keep every ``stride``-th frame.
    chunk_frames : int, default=1000
        Frames read, featurised and written at a time (also the store's chunk
        length).
    client : dask.distributed.Client, optional
        Run one task per file on this cluster; None runs locally.
    overwrite : bool, default=False
        Replace an existing store made with other arguments (a store of the same
        files and featuriser is completed instead).
    verbose : bool, default=True
        Show a progress bar over the files.

    Returns
    -------
    FeatureStore
        The store's trajectories, read lazily.

    Raises
    ------
    TypeError
        ``featurizer`` has no ``fit``/``transform``, ``trajectories`` is not a path
        or a list of paths, ``client`` is not a Dask client.
    ValueError
        A file does not exist or has no frames; ``stride`` or ``chunk_frames`` is
        not positive; ``path`` holds something else than a feature store of the
        same arguments and ``overwrite`` is False.
    """
    import mdtraj
    from sklearn.base import clone

    from ._distributed import (
        _check_client,
        _update_attrs,
        create_group_atomically,
        run_tasks,
    )

    zarr = _require_zarr()
    if not (hasattr(featurizer, "fit") and hasattr(featurizer, "transform")):
        raise TypeError(
            "featurizer must be a transformer with fit and transform (such as "
            f"sklss.TorsionFeaturizer); got {type(featurizer).__name__}."
        )
    if isinstance(trajectories, str | os.PathLike):
        trajectories = [trajectories]
    if not isinstance(trajectories, list | tuple) or not trajectories:
        raise TypeError(
            "trajectories must be a path or a non-empty list of paths; got "
            f"{type(trajectories).__name__}."
        )
    files = []
    for i, f in enumerate(trajectories):
        if not isinstance(f, str | os.PathLike):
            raise TypeError(
                f"trajectories[{i}] must be a path; got {type(f).__name__}."
            )
        if not Path(f).is_file():
            raise ValueError(f"trajectories[{i}]: no such file {str(f)!r}.")
        files.append(str(Path(f).resolve()))
    stride = check_int(stride, "stride", 1)
    chunk_frames = check_int(chunk_frames, "chunk_frames", 1)
    overwrite = check_bool(overwrite, "overwrite")
    client = _check_client(client)
    path = Path(path)
    if isinstance(top, str | os.PathLike):
        top = mdtraj.load_topology(str(top))

    featurizer = clone(featurizer).fit(mdtraj.load_frame(files[0], 0, top=top))
    names = None
    if hasattr(featurizer, "get_feature_names_out"):
        try:
            names = [str(n) for n in featurizer.get_feature_names_out()]
        except Exception:  # a featuriser without names
            names = None
    meta = {
        "format": STORE_FORMAT,
        "files": files,
        "stride": stride,
        "chunk_frames": chunk_frames,
        "featurizer": type(featurizer).__name__,
        "featurizer_params": json.loads(
            json.dumps(featurizer.get_params(), default=repr)
        ),
        "feature_names": names,
    }
    existing = _store_attrs(path)
    if existing is not None and not overwrite:
        same = {k: existing.get(k) for k in meta if k != "feature_names"}
        if same != {k: v for k, v in meta.items() if k != "feature_names"}:
            raise ValueError(
                f"path {str(path)!r} holds a feature store made with other "
                "arguments (files, featuriser, stride or chunk_frames); pass "
                "overwrite=True to replace it."
            )
    elif existing is None and path.exists() and not overwrite:
        if not path.is_dir() or any(path.iterdir()):
            raise ValueError(
                f"path {str(path)!r} exists and is not a feature store; choose "
                "another path or pass overwrite=True."
            )
    if existing is None or overwrite:
        create_group_atomically(path, meta)

    done = set(_complete_files(path))
    todo = [i for i in range(len(files)) if i not in done]
    args = [
        (featurizer, str(path), files[i], top, i, chunk_frames, stride) for i in todo
    ]
    from tqdm.auto import tqdm

    with tqdm(
        total=len(files),
        initial=len(done),
        desc="featurize",
        unit="file",
        disable=not verbose,
    ) as bar:
        if client is None:
            for a in args:
                _featurize_file(*a)
                bar.update()
        else:
            run_tasks(client, _featurize_file, args, bar)
    group = zarr.open_group(str(path), mode="r+")
    steps = {dict(group[_file_key(i)].attrs).get("timestep") for i in range(len(files))}
    steps.discard(None)
    _update_attrs(
        group,
        {
            "complete": True,
            "timestep": steps.pop() if len(steps) == 1 else None,
        },
    )
    return open_feature_store(path)


def _store_attrs(path):
    """The attributes of the feature store at ``path``, or None if it is not one."""
    from ._distributed import _read_attrs

    return _read_attrs(path, STORE_FORMAT)


def _complete_files(path):
    """Indices of the files whose arrays were written completely."""
    zarr = _require_zarr()
    group = zarr.open_group(str(path), mode="r")
    attrs = dict(group.attrs)
    return [
        i
        for i in range(len(attrs["files"]))
        if _file_key(i) in group and dict(group[_file_key(i)].attrs).get("complete")
    ]


def open_feature_store(path, *, allow_incomplete=False):
    """Open a store written by :func:`featurize_to_zarr`, reading nothing yet.

    Parameters
    ----------
    path : str or path
        Directory of the store.
    allow_incomplete : bool, default=False
        Open a store whose featurisation was interrupted, with the files finished
        so far.

    Returns
    -------
    FeatureStore
        A list of :class:`LazyTrajectory`, one per trajectory file.

    Raises
    ------
    ValueError
        ``path`` is not a feature store, or it is incomplete and
        ``allow_incomplete`` is False.
    """
    zarr = _require_zarr()
    allow_incomplete = check_bool(allow_incomplete, "allow_incomplete")
    attrs = _store_attrs(path)
    if attrs is None:
        raise ValueError(
            f"path {str(path)!r} is not a feature store written by "
            "sklss.featurize_to_zarr."
        )
    complete = _complete_files(path)
    if len(complete) < len(attrs["files"]) and not allow_incomplete:
        raise ValueError(
            f"the feature store {str(path)!r} is incomplete ({len(complete)} of "
            f"{len(attrs['files'])} files); run featurize_to_zarr again with the same "
            "arguments to finish it, or pass allow_incomplete=True."
        )
    group = zarr.open_group(str(path), mode="r")
    trajectories = [
        LazyTrajectory(group[_file_key(i)], name=attrs["files"][i]) for i in complete
    ]
    if allow_incomplete:
        attrs = {**attrs, "files": [attrs["files"][i] for i in complete]}
    return FeatureStore(trajectories, path=path, attrs=attrs)
