"""Input handling, blocks and errors shared by the analysis modules."""

import numpy as np

from .._data import check_int, check_trajectories


def _trajectories(X, name):
    """Validated trajectories as float64 arrays, and whether a list was given.

    Every array returned is a new object (a view when no conversion was needed), so
    a library that toggles the flags of its inputs (deeptime makes them read-only
    while it fits, then restores them one by one) never touches the user's arrays,
    even when one array is given twice.
    """
    trajs = check_trajectories(None, X, reset=False, name=name, n_features_attr=None)
    return [np.asarray(t, dtype=np.float64).view() for t in trajs], trajs.is_list


def _check_column(trajs, coordinate, name):
    n_features = trajs[0].shape[1]
    coordinate = check_int(coordinate, "coordinate", 0)
    if coordinate >= n_features:
        raise ValueError(
            f"coordinate must be < the number of features of {name} ({n_features}); "
            f"got {coordinate}."
        )
    return coordinate


def _blocks(trajs, n_blocks, min_length=1):
    """Split trajectories (taken in order) into contiguous blocks of equal length.

    Returns a list of ``n_blocks`` lists of segments; a segment is a piece of one
    trajectory, so time correlations never cross a trajectory boundary. Frames left
    over at the end (fewer than ``n_blocks``) are dropped.
    """
    n_blocks = check_int(n_blocks, "n_blocks", 2)
    total = sum(len(t) for t in trajs)
    size = total // n_blocks
    if size < min_length:
        raise ValueError(
            f"n_blocks={n_blocks} blocks of the {total} frames given are shorter than "
            f"the {min_length} frames needed; pass fewer blocks or more data."
        )
    starts = np.cumsum([0] + [len(t) for t in trajs])
    blocks = []
    for k in range(n_blocks):
        lo, hi = k * size, (k + 1) * size
        segments = []
        for t, s in zip(trajs, starts[:-1], strict=True):
            a, b = max(lo, s), min(hi, s + len(t))
            if a < b:
                segments.append(t[a - s : b - s])
        blocks.append(segments)
    return blocks


def _std(values, ddof=0):
    """Standard deviation per column, in units of the column's largest magnitude.

    The squares then neither overflow nor underflow, whatever the scale of the
    values; NaN propagates as in :meth:`numpy.ndarray.std`.
    """
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        scale = np.max(np.abs(values), axis=0)
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    return scale * (values / scale).std(axis=0, ddof=ddof)


def _standard_error(block_values):
    """Standard error of the mean of independent block estimates (per column)."""
    block_values = np.asarray(block_values, dtype=np.float64)
    return _std(block_values, ddof=1) / np.sqrt(len(block_values))


def _free_energy(counts, where="bins"):
    """-ln p in kT with the minimum at 0; NaN where nothing was sampled.

    ``where`` names the arguments that fix the histogram, for the error raised
    when no sample falls inside it.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        raise ValueError(
            f"No sample falls inside the histogram range; check {where} against "
            "the range of the data."
        )
    with np.errstate(divide="ignore"):
        f = -np.log(counts / counts.sum())
    f[~np.isfinite(f)] = np.nan
    return f - np.nanmin(f)


def _as_md_trajectories(traj, name):
    """Trajectories with frames and finite coordinates (``_molecules._check_md``)."""
    from .._molecules import _check_md

    return _check_md(traj, name)
