"""Free-energy profiles along one coordinate and block averages."""

import numpy as np
from sklearn.utils import Bunch

from .._data import (
    as_column,
    check_bins,
    check_real,
    check_real_array,
    histogram_edges,
)
from ._common import (
    _blocks,
    _check_column,
    _free_energy,
    _standard_error,
    _std,
    _trajectories,
)


def free_energy_profile(X, *, coordinate=0, bins=50, range=None, n_blocks=5):
    """Free-energy profile ``F(x) = -ln p(x)`` along one coordinate, with block errors.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories, e.g. latent coordinates ψ.
    coordinate : int, default=0
        Column of ``X`` to profile (0 is ψ1).
    bins : int or array-like, default=50
        Number of equal bins over ``range`` or the bin edges (as in
        :func:`numpy.histogram`). Use the same edges for profiles to be compared.
    range : (float, float), default=None
        Histogram range; ``None`` uses the data's minimum and maximum.
    n_blocks : int, default=5
        Number of contiguous blocks for the standard errors.

    Returns
    -------
    result : Bunch
        ``bin_edges`` (n_bins + 1,), ``bin_centers`` (n_bins,), ``free_energy``
        (n_bins,) in kT shifted so that its minimum is 0 and NaN in empty bins,
        ``standard_error`` (n_bins,) from the blocks' profiles (NaN where a block has
        an empty bin: the error is not defined there), ``counts`` (n_bins,).

    Raises
    ------
    TypeError
        ``X`` is not numeric, ``coordinate``, ``n_blocks`` or ``bins`` is not an
        int (nor bin edges), or ``range`` is not a pair of numbers.
    ValueError
        ``X`` is ragged, complex, not 2-D, empty or not finite; ``coordinate`` is
        out of range; ``n_blocks < 2`` or larger than the number of frames;
        ``bins < 1``, too many to fit in memory, or edges that are not finite and
        strictly increasing; ``range`` is not finite with low < high or is given
        with edges; no value falls inside the bins.

    Notes
    -----
    Each block's profile is ``-ln`` of its normalised histogram; the constant
    offset of a profile does not change the spread of the block values in a bin,
    so no alignment of blocks is needed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import free_energy_profile
    >>> x = np.random.default_rng(0).normal(size=(5000, 1))
    >>> profile = free_energy_profile(x, bins=20)
    >>> profile.free_energy.shape, profile.standard_error.shape
    ((20,), (20,))
    """
    trajs, _ = _trajectories(X, "X")
    coordinate = _check_column(trajs, coordinate, "X")
    blocks = _blocks([t[:, coordinate] for t in trajs], n_blocks)
    bins, range = check_bins(bins, range, n_arrays=2 * len(blocks) + 8)
    values = np.concatenate([t[:, coordinate] for t in trajs])
    edges = histogram_edges(bins, range, values, "X")
    counts, _ = np.histogram(values, bins=edges)
    free_energy = _free_energy(counts, "bins and range")
    block_f = []
    for segments in blocks:
        c, _ = np.histogram(np.concatenate(segments), bins=edges)
        with np.errstate(divide="ignore"):
            block_f.append(-np.log(c / c.sum()))
    block_f = np.array(block_f)
    error = _standard_error(np.where(np.isfinite(block_f), block_f, np.nan))
    return Bunch(
        bin_edges=edges,
        bin_centers=0.5 * (edges[1:] + edges[:-1]),
        free_energy=free_energy,
        standard_error=error,
        counts=counts,
    )


def profile_rmse(reference, other, *, max_free_energy=None):
    """RMSE between two free-energy profiles (or surfaces) after optimal alignment.

    Free energies are defined up to a constant, so ``other`` is shifted by the
    constant ``c`` that minimises ``sum (F_ref - F_other - c)**2`` over the bins
    populated in both, ``c = mean(F_ref - F_other)``; the RMSE is then the standard
    deviation (``ddof=0``) of the difference over those bins.

    Parameters
    ----------
    reference, other : Bunch or array-like
        Results of :func:`free_energy_profile`, :func:`ramachandran_free_energy`
        (anything with a ``free_energy`` attribute) or free-energy arrays of the
        same shape; NaN marks an unpopulated bin.
    max_free_energy : float, default=None
        Also exclude bins where the reference lies more than this many kT above its
        minimum (rarely visited bins are dominated by noise). ``None`` keeps all
        bins populated in both.

    Returns
    -------
    result : Bunch
        ``rmse`` (kT), ``shift`` (the constant added to ``other``), ``n_bins`` (bins
        compared) and ``mask`` (bool array of those bins).

    Raises
    ------
    TypeError
        A free energy is not an array of real numbers, or ``max_free_energy`` is
        not a float or None.
    ValueError
        A free energy is complex, ragged or holds infinity, the shapes differ,
        ``max_free_energy`` is negative or not finite, or no bin is populated in
        both.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import profile_rmse
    >>> profile_rmse([0.0, 1.0, np.nan], [2.0, 3.0, 1.0]).rmse
    0.0
    """
    f_ref = check_real_array(
        getattr(reference, "free_energy", reference), "reference", allow_nan=True
    )
    f_other = check_real_array(
        getattr(other, "free_energy", other), "other", allow_nan=True
    )
    max_free_energy = check_real(
        max_free_energy, "max_free_energy", low=0.0, allow_none=True
    )
    if f_ref.shape != f_other.shape:
        raise ValueError(
            "reference and other must have the same bins; got free energies of shape "
            f"{f_ref.shape} and {f_other.shape}."
        )
    mask = np.isfinite(f_ref) & np.isfinite(f_other)
    if max_free_energy is not None:
        mask &= f_ref - np.nanmin(f_ref) <= max_free_energy
    if not mask.any():
        raise ValueError(
            "reference and other have no populated bin in common: every bin is NaN "
            "in one of them or beyond max_free_energy."
        )
    diff = f_ref[mask] - f_other[mask]
    shift = float(diff.mean())
    return Bunch(
        rmse=float(np.sqrt(np.mean((diff - shift) ** 2))),
        shift=shift,
        n_bins=int(mask.sum()),
        mask=mask,
    )


def _compare_histograms(ref_counts, gen_counts, min_count):
    """RMSE of -ln p over bins the reference populates; count bins never generated.

    ``min_count`` is checked by the caller (before any histogram is computed).
    """
    populated = ref_counts >= min_count
    if not populated.any():
        raise ValueError(
            f"No bin holds min_count={min_count} reference samples; lower min_count "
            "or use fewer bins."
        )
    visited = populated & (gen_counts > 0)
    if not visited.any():
        raise ValueError(
            "generated visits none of the bins the reference populates (with at "
            f"least min_count={min_count} samples): the distributions of reference "
            "and generated do not overlap, so no free-energy difference can be "
            "computed."
        )
    f_ref = np.where(populated, _free_energy(ref_counts), np.nan)
    result = profile_rmse(f_ref, _free_energy(gen_counts))
    result.n_missing_bins = int(np.sum(populated & (gen_counts == 0)))
    return result


def _ndim(v):
    """Number of dimensions of an array-like; None when it is ragged."""
    if hasattr(v, "ndim"):
        return v.ndim
    try:
        return np.ndim(v)
    except ValueError:
        return None


def block_average(values, *, n_blocks=5):
    """Mean of a time series with its block standard error, column by column.

    Parameters
    ----------
    values : array-like of shape (n_frames,) or (n_frames, n_columns), or list of such
        Per-frame values (e.g. from :func:`radius_of_gyration`), one array per
        trajectory. Axis 0 is time; the columns of a 2-D array are separate
        series, averaged separately over the same blocks of frames.
    n_blocks : int, default=5
        Number of contiguous blocks.

    Returns
    -------
    result : Bunch
        ``mean``, ``standard_error``, ``std`` (the spread of the values) and
        ``block_means`` (n_blocks,): floats for 1-D values. For 2-D values the
        first three are arrays of shape (n_columns,) and ``block_means`` has shape
        (n_blocks, n_columns).

    Raises
    ------
    TypeError
        ``values`` is not numeric, mixes 1-D and 2-D arrays, or ``n_blocks`` is
        not an int.
    ValueError
        ``values`` is ragged, complex, empty, not finite or has more than two
        dimensions, the columns of the trajectories differ, ``n_blocks < 2``, or
        there are fewer frames than blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import block_average
    >>> block_average(np.arange(10.0)).block_means
    array([0.5, 2.5, 4.5, 6.5, 8.5])
    >>> block_average(np.arange(20.0).reshape(10, 2), n_blocks=2).mean
    array([ 9., 10.])
    """
    # As everywhere in sklss, a list of arrays is several trajectories; a nested
    # list of numbers is one array.
    is_list = (
        isinstance(values, list | tuple)
        and len(values) > 0
        and all(getattr(v, "ndim", None) in (1, 2) for v in values)
    )
    items = list(values) if is_list else [values]
    if len({getattr(v, "ndim", None) for v in items}) > 1:
        raise TypeError(
            "values mixes 1-D and 2-D arrays; a list must hold only 1-D series or "
            "only 2-D arrays (n_frames, n_columns)."
        )
    one_d = all(_ndim(v) == 1 for v in items)
    arrays = [as_column(v) for v in items]
    trajs, _ = _trajectories(arrays if is_list else arrays[0], "values")
    blocks = _blocks(trajs, n_blocks)
    means = np.array([np.concatenate(b).mean(axis=0) for b in blocks])
    data = np.concatenate(trajs)
    result = Bunch(
        mean=data.mean(axis=0),
        standard_error=_standard_error(means),
        std=_std(data),
        block_means=means,
    )
    if one_d:
        result.mean, result.standard_error, result.std = (
            float(result[k][0]) for k in ("mean", "standard_error", "std")
        )
        result.block_means = means[:, 0]
    return result
