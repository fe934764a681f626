"""Drift of the stationary distribution of generated trajectories.

A propagator whose learned chain has a slightly wrong stationary distribution
reproduces short-time statistics well and still lets the populations of long
generated runs drift away from the data. The check here compares the marginal
distributions of generated trajectories with those of the data, against the
statistical noise of the data themselves.
"""

import numpy as np
from sklearn.utils import Bunch

from .._data import (
    check_bins,
    check_int,
    check_random_state_named,
    check_real,
    histogram_edges,
)
from .._warnings import warn
from ._common import _blocks, _check_column, _trajectories
from ._kinetics import total_variation

__all__ = ["compare_stationary_distributions"]


def _as_trajectory_list(X):
    """A 3-D stack ``(n_trajectories, n_frames, n_features)`` as a list of
    trajectories (what :meth:`sklss.MDNPropagator.sample` returns for several
    starting points); anything else unchanged."""
    if getattr(X, "ndim", None) == 3:
        return list(X)
    return X


def _check_coordinates(coordinates, trajs, name):
    """Column indices to compare: all for ``None``, an int or a sequence of ints."""
    n_features = trajs[0].shape[1]
    if coordinates is None:
        return list(range(n_features))
    if isinstance(coordinates, list | tuple | np.ndarray):
        if len(coordinates) == 0:
            raise ValueError(
                "coordinates must name at least one column; got an empty sequence."
            )
        columns = [_check_column(trajs, c, name) for c in coordinates]
    else:
        columns = [_check_column(trajs, coordinates, name)]
    if len(set(columns)) != len(columns):
        raise ValueError(f"coordinates must not repeat a column; got {columns}.")
    return columns


def _counts(values, edges):
    """Histogram counts with values outside ``edges`` counted in the end bins."""
    return np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)[0]


def compare_stationary_distributions(
    data,
    generated,
    *,
    bins=60,
    coordinates=None,
    n_blocks=10,
    level=0.95,
    tolerance=0.0,
    n_resamples=1000,
    random_state=0,
):
    """Whether generated trajectories keep the stationary distribution of the data.

    For each coordinate, the total-variation distance
    (:func:`~sklss.analysis.total_variation`) between the histogram of the
    generated frames and that of the data is compared with the distance expected
    between the data and an independent run of the same process, as long as the
    generated one. That null distribution comes from the data alone: the data are
    cut into ``n_blocks`` contiguous blocks, resampled by a block bootstrap, and the
    distance of each resample to the data (the data's own statistical error) is
    scaled to a comparison of ``N`` data frames with ``M`` generated frames. A
    coordinate passes when its distance does not exceed the ``level`` quantile of
    the null distribution (or ``tolerance``, if larger); a ``UserWarning`` is
    raised when one does not, so that long generated runs whose populations drift
    away from the data are noticed.

    Parameters
    ----------
    data : array-like of shape (n_frames, n_features) or list of such
        The trajectories the model was trained on (or any reference run).
    generated : array-like of shape (n_frames, n_features) or list of such
        The generated trajectories; a 3-D array
        ``(n_trajectories, n_frames, n_features)``, as
        :meth:`MDNPropagator.sample <sklss.MDNPropagator.sample>` returns for
        several starting points, is a stack of trajectories.
    bins : int or array-like, default=60
        Number of equal bins over each coordinate's range in the data, or bin
        edges used for every coordinate compared. Values outside are counted in
        the end bins.
    coordinates : int, sequence of int or None, default=None
        Columns compared; ``None`` compares every column.
    n_blocks : int, default=10
        Number of contiguous blocks of the data for the block bootstrap (at least
        2). Blocks must be much longer than the slowest relaxation time of the
        data for the bootstrap to see its full noise.
    level : float, default=0.95
        Quantile of the null distribution used as the threshold, in (0, 1). With
        several coordinates it is corrected for multiple comparisons (Bonferroni:
        ``1 - (1 - level) / n_coordinates`` per coordinate), so that ``level`` is
        the probability that a run of the data's own process passes.
    tolerance : float, default=0.0
        A distance small enough to accept whatever the noise, in [0, 1]: with
        much data the noise is small, and differences too small to matter for
        the application can be let through. 0 makes the check purely
        statistical.
    n_resamples : int, default=1000
        Number of block-bootstrap resamples (at least 10).
    random_state : int, RandomState instance or None, default=0
        Seed of the bootstrap; fixed by default so that the verdict on given
        trajectories is reproducible.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes (arrays of shape (n_coordinates,) hold one value per
        coordinate compared)

        coordinates : list of int
            The columns compared.
        distance : ndarray
            Total-variation distance between the generated and the data
            histograms.
        noise : ndarray
            The mean of the null distribution: the distance expected for an
            independent run of the data's process with as many frames as
            ``generated``.
        threshold : ndarray
            The (corrected) ``level`` quantile of the null distribution, or
            ``tolerance`` where that is larger.
        ratio : ndarray
            ``distance / noise``: about 1 for a faithful generator.
        p_value : ndarray
            Fraction of the null distribution at or above ``distance`` (with the
            usual ``+1`` correction).
        passed : bool
            Whether every coordinate's distance is at most its threshold.
        null_distances : ndarray of shape (n_resamples, n_coordinates)
            The null distribution.
        edges : list of ndarray
            The bin edges of each coordinate.
        data_probabilities, generated_probabilities : list of ndarray
            The normalised histograms of each coordinate.
        n_frames_data, n_frames_generated : int
            Frames compared.

    Raises
    ------
    TypeError
        ``data`` or ``generated`` is not numeric; ``bins`` is neither an int nor
        edges; ``coordinates``, ``n_blocks`` or ``n_resamples`` is not an int (or
        a sequence of ints); ``level`` or ``tolerance`` is not a float;
        ``random_state`` is not None, an int or a RandomState.
    ValueError
        The trajectories are ragged, complex, empty or not finite, or their
        numbers of features differ; ``bins < 2`` or edges that are not finite and
        strictly increasing; a coordinate is out of range or repeated;
        ``n_blocks < 2`` or more blocks than data frames; ``level`` outside (0, 1);
        ``tolerance`` outside [0, 1]; ``n_resamples < 10``.

    Warns
    -----
    UserWarning
        When a coordinate's distance exceeds its threshold: the populations of the
        generated trajectories differ from the data by more than the data's noise.

    See Also
    --------
    total_variation : The distance between two histograms.
    msm_timescales : Compare the kinetics of the same runs.

    Notes
    -----
    Under the null hypothesis the histograms of the data and of the generated run
    are independent estimates of the same distribution; each bin's difference then
    has a variance ``s² (1 + N/M)``, where ``s²`` is that of the data histogram,
    and the distance scales with its square root. The block bootstrap estimates
    ``s²`` with the factor ``(n_blocks - 1) / n_blocks`` of a bootstrap of
    ``n_blocks`` means, which is divided out. ``N/M`` is the ratio of frame
    counts: it treats generated frames as being as correlated as data frames,
    which holds for a generator at lag one frame and overestimates the
    generated noise (a more lenient threshold) at longer lags.

    The comparison is with the data, not with the exact equilibrium distribution:
    data that have not converged are a noisy reference, and the threshold grows
    with that noise. Blocks shorter than the slowest relaxation time are
    correlated, the bootstrap then underestimates the noise and the check becomes
    too strict; use fewer, longer blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import compare_stationary_distributions
    >>> rng = np.random.default_rng(0)
    >>> data = rng.normal(size=(5000, 2))
    >>> generated = rng.normal(size=(20, 2000, 2))
    >>> check = compare_stationary_distributions(data, generated, bins=30)
    >>> check.distance.shape, check.passed
    ((2,), True)
    """
    data_trajs, _ = _trajectories(_as_trajectory_list(data), "data")
    gen_trajs, _ = _trajectories(_as_trajectory_list(generated), "generated")
    n_features = data_trajs[0].shape[1]
    if gen_trajs[0].shape[1] != n_features:
        raise ValueError(
            f"generated must have the {n_features} features of data; got "
            f"{gen_trajs[0].shape[1]}."
        )
    columns = _check_coordinates(coordinates, data_trajs, "data")
    bins, _ = check_bins(bins, None, minimum=2)
    n_blocks = check_int(n_blocks, "n_blocks", 2)
    level = check_real(level, "level", low=0.0, high=1.0, closed="neither")
    tolerance = check_real(tolerance, "tolerance", low=0.0, high=1.0)
    n_resamples = check_int(n_resamples, "n_resamples", 10)
    rng = check_random_state_named(random_state)
    blocks = _blocks(data_trajs, n_blocks)

    data_frames = np.concatenate(data_trajs)
    gen_frames = np.concatenate(gen_trajs)
    n_data, n_gen = len(data_frames), len(gen_frames)
    # Null-distribution scale: the bootstrap's (K - 1)/K variance deficit and the
    # generated run's own noise, relative to the data's, N/M.
    scale = np.sqrt(n_blocks / (n_blocks - 1) * (1.0 + n_data / n_gen))
    # Every coordinate uses the same resamples of the blocks.
    weights = rng.multinomial(n_blocks, np.full(n_blocks, 1.0 / n_blocks), n_resamples)
    quantile = 1.0 - (1.0 - level) / len(columns)

    edges_out, p_data, p_gen = [], [], []
    distance, null = [], []
    for j in columns:
        x_data, x_gen = data_frames[:, j], gen_frames[:, j]
        edges = histogram_edges(bins, None, x_data, "data")
        distance.append(total_variation(x_data, x_gen, bins=edges))
        block_counts = np.array(
            [_counts(np.concatenate([s[:, j] for s in b]), edges) for b in blocks],
            dtype=np.float64,
        )
        pooled = block_counts.sum(axis=0)
        resampled = weights @ block_counts
        resampled /= resampled.sum(axis=1, keepdims=True)
        null.append(scale * 0.5 * np.abs(resampled - pooled / pooled.sum()).sum(axis=1))
        c_data, c_gen = _counts(x_data, edges), _counts(x_gen, edges)
        edges_out.append(edges)
        p_data.append(c_data / c_data.sum())
        p_gen.append(c_gen / c_gen.sum())

    distance = np.asarray(distance)
    null = np.column_stack(null)
    noise = null.mean(axis=0)
    threshold = np.maximum(np.quantile(null, quantile, axis=0), tolerance)
    p_value = (1.0 + (null >= distance).sum(axis=0)) / (1.0 + n_resamples)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(noise > 0, distance / noise, np.where(distance > 0, np.inf, 1))
    failed = distance > threshold
    if failed.any():
        details = ", ".join(
            f"column {columns[i]}: {distance[i]:.3g} vs threshold {threshold[i]:.3g} "
            f"({ratio[i]:.1f}x the noise)"
            for i in np.flatnonzero(failed)
        )
        warn(
            "The stationary distribution of the generated trajectories differs from "
            "the data's by more than the data's own statistical noise (total "
            f"variation, level {level}; {details}): their populations drift. For an "
            "MDNPropagator on equilibrium data, try reversible=True or a longer "
            "lagtime.",
            UserWarning,
        )
    return Bunch(
        coordinates=columns,
        distance=distance,
        noise=noise,
        threshold=threshold,
        ratio=ratio,
        p_value=p_value,
        passed=bool(not failed.any()),
        null_distances=null,
        edges=edges_out,
        data_probabilities=p_data,
        generated_probabilities=p_gen,
        n_frames_data=int(n_data),
        n_frames_generated=int(n_gen),
    )
