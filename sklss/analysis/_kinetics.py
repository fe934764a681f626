"""Kinetics: autocorrelations, relaxation times, MSM time scales, distribution distance.

The one implementation of these quantities in sklss, which
:meth:`sklss.LatentSpaceSimulator.score` uses too: the score and the analysis of
generated trajectories measure the same thing. Lags, lag times and time scales are
in frames.
"""

import warnings

import numpy as np
from scipy.optimize import curve_fit
from sklearn.utils import Bunch

from .._data import (
    check_bin_edges,
    check_bins,
    check_int,
    check_lagtime,
    check_real,
    check_real_array,
    histogram_edges,
)
from ._common import _blocks, _check_column, _standard_error, _trajectories

# An autocorrelation at or below this value at the first lag counts as fully
# decorrelated: relaxation times are bounded below by lags[0] / ln(1 / value).
_MIN_CORRELATION = 1e-3
_EXP_MINUS_2 = float(np.exp(-2.0))


def _correlation_sums(segments, max_lag, center):
    """Per lag: sum over pairs of x(t+τ) x(t), and the number of pairs."""
    frames = np.concatenate(segments)
    mean = frames.mean(axis=0) if center else np.zeros(frames.shape[1])
    # Each column in units of its largest deviation: C does not depend on it, and
    # the products x(t+τ) x(t) then neither underflow nor overflow.
    scale = np.max(np.abs(frames - mean), axis=0)
    scale[~(scale > 0) | ~np.isfinite(scale)] = 1.0
    sums = np.zeros((max_lag + 1, frames.shape[1]))
    pairs = np.zeros(max_lag + 1)
    for seg in segments:
        x = (seg - mean) / scale
        n = len(x)
        n_lags = min(max_lag + 1, n)
        nfft = 1 << int(np.ceil(np.log2(2 * n)))
        spectrum = np.fft.rfft(x, n=nfft, axis=0)
        corr = np.fft.irfft(spectrum * spectrum.conj(), n=nfft, axis=0)
        sums[:n_lags] += corr[:n_lags]
        pairs[:n_lags] += n - np.arange(n_lags)
    return sums, pairs, frames


def _constant_columns(segments):
    """Columns that take one value over all frames of ``segments``."""
    frames = np.concatenate(segments)
    return np.ptp(frames, axis=0) == 0


def _autocorrelation(segments, max_lag, center):
    """Normalised autocorrelations, and the columns without fluctuations.

    ``C(0) = 1`` by definition; a column whose normalisation ``<x(t) x(t)>`` is
    zero (constant with ``center``, all zero without) is NaN at every other lag.
    """
    sums, pairs, frames = _correlation_sums(segments, max_lag, center)
    flat = ~(sums[0] > 0)
    if center:
        # Round-off in the mean would otherwise leave a noise column.
        flat |= _constant_columns(segments)
    with np.errstate(invalid="ignore", divide="ignore"):
        acf = (sums / pairs[:, None]) / (sums[0] / pairs[0])
    acf[:, flat] = np.nan
    acf[0] = 1.0
    return acf, flat


def _warn_constant(columns, name, consequence):
    if columns.any():
        warnings.warn(
            f"Column(s) {np.flatnonzero(columns).tolist()} of {name} are constant: "
            f"they have no fluctuations to correlate, {consequence}.",
            UserWarning,
            stacklevel=3,
        )


def autocorrelation(X, max_lag, *, center=True):
    """Normalised autocorrelation ``C(τ) = <x(t+τ) x(t)> / <x(t) x(t)>`` per column.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories; pairs are taken within each trajectory.
    max_lag : int
        Largest lag τ, in frames.
    center : bool, default=True
        Subtract the mean of the data first (the usual autocorrelation). SRV
        eigenfunctions have zero mean, for which this equals the paper's formula;
        ``False`` applies the formula to the raw values.

    Returns
    -------
    ndarray of shape (max_lag + 1, n_features)
        ``C(0) = 1``; NaN at the lags ``τ >= 1`` of the columns whose
        normalisation ``<x(t) x(t)>`` is zero (constant columns with
        ``center=True``, all-zero columns), with a ``UserWarning`` naming them.

    Raises
    ------
    TypeError
        ``X`` is not numeric (booleans, strings, objects) or ``max_lag`` is not an
        int.
    ValueError
        ``X`` is ragged, complex, not 2-D, empty or not finite, or ``max_lag`` is
        below 1 or not shorter than the longest trajectory.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import autocorrelation
    >>> x = np.random.default_rng(0).normal(size=(1000, 2))
    >>> autocorrelation(x, 10).shape
    (11, 2)
    """
    trajs, _ = _trajectories(X, "X")
    max_lag = _check_max_lag(max_lag, trajs)
    center = _check_bool(center, "center")
    acf, flat = _autocorrelation(trajs, max_lag, center)
    _warn_constant(flat, "X", "so their autocorrelation is NaN after lag 0")
    return acf


def _check_bool(value, name):
    if not isinstance(value, bool | np.bool_):
        raise TypeError(
            f"{name} must be a bool; got {value!r} of type {type(value).__name__}."
        )
    return bool(value)


def _check_max_lag(max_lag, trajs):
    """``max_lag`` as an int in [1, longest trajectory - 1]: every lag has a pair."""
    return check_lagtime(max_lag, "max_lag", trajectories=trajs)


def _fit_column(c, lags, cutoff):
    """Relaxation time of one autocorrelation column and the last lag of its fit."""
    finite = np.isfinite(c)
    below = np.flatnonzero(finite & (c < cutoff))
    if below.size:
        n = below[0] + 1
    elif finite.any():
        n = np.flatnonzero(finite)[-1] + 1
    else:
        return np.nan, int(lags[-1])
    c, window = c[:n], int(lags[n - 1])
    if not np.all(np.isfinite(c)):
        return np.nan, window
    if np.all(c >= 1.0):
        # No decay: the least-squares rate is 0.
        return np.inf, window
    # Fit the rate in units of the first lag: well scaled whatever the lags are.
    s = lags[:n] / lags[0]
    max_rate = np.log(1.0 / _MIN_CORRELATION)
    # Start from the linear fit of ln C through the origin: close to the optimum,
    # and inside the bounds even when C exceeds 1 or drops below 0.
    log_c = np.log(np.clip(c, _MIN_CORRELATION, 1.0))
    rate = np.clip(-np.dot(s, log_c) / np.dot(s, s), 1e-9, max_rate)
    if n > 1:
        (rate,), _ = curve_fit(
            lambda s, r: np.exp(-r * s), s, c, p0=[rate], bounds=(0.0, max_rate)
        )
    return float(lags[0] / rate), window


def _fit_relaxation_times(acf, lags, cutoff):
    fits = [_fit_column(acf[:, i], lags, cutoff) for i in range(acf.shape[1])]
    return np.array([t for t, _ in fits]), np.array([w for _, w in fits])


def fit_relaxation_times(acf, lags, *, cutoff=_EXP_MINUS_2):
    """Relaxation times from exponential fits to computed autocorrelations.

    Each column ``C_i`` of ``acf`` is fitted with ``exp(-τ / t_i)`` by nonlinear
    least squares in ``C`` over a window of lags. The fit is anchored at
    ``C(0) = 1``, so ``t_i`` is the only parameter.

    Parameters
    ----------
    acf : array-like of shape (n_lags, n_features)
        Normalised autocorrelations at ``lags`` (rows of :func:`autocorrelation`,
        for instance); NaN where unknown.
    lags : array-like of int of shape (n_lags,)
        Positive, strictly increasing lags in frames. They need not start at 1 nor
        be consecutive, e.g. multiples of a lag time. Lag 0 is not given:
        ``C(0) = 1`` is built into the fit.
    cutoff : float, default=exp(-2)
        Fit window: the lags up to the first at which ``C`` falls below ``cutoff``
        (included), or up to the last finite ``C`` if it never does. With the
        default the window spans about two time scales, where an exponential is
        well determined and the noisy tail of ``C`` is left out.

    Returns
    -------
    ndarray of shape (n_features,)
        Relaxation times ``t_i`` in frames; NaN when the window holds a NaN, inf
        when ``C`` does not decay (it stays at or above 1 in the window).

    Raises
    ------
    TypeError
        ``acf`` or ``lags`` is not an array of real numbers, or ``cutoff`` is not
        a float.
    ValueError
        ``acf`` is ragged, complex, not 2-D, has no columns or holds infinity;
        ``lags`` is not 1-D, not finite, not positive and strictly increasing, or
        not one per row of ``acf``; ``cutoff`` is not in (0, 1).

    See Also
    --------
    relaxation_times : Autocorrelation, fit and block errors from trajectories.

    Notes
    -----
    The estimator is the nonlinear least-squares fit of ``exp(-τ / t_i)`` to ``C``
    itself rather than the linear least-squares fit of ``ln C = -τ / t_i``. Both
    are exact for an exponential and about equally biased on finite data, but the
    logarithm amplifies the noise of ``C`` where it is small, at the end of the
    window: on AR(1) processes with ``t = 3 ... 30`` frames (5,000 to 20,000
    frames, consecutive or strided lags) the logarithmic fit scattered 30 to 60%
    more around the exact value than the fit in ``C``.

    When ``C`` at the first lag is at or below ``1e-3`` (or below zero: the data
    decorrelate within one lag), ``t_i`` is bounded below by
    ``lags[0] / ln(1000) ≈ 0.14 lags[0]``, the shortest time scale the lags can
    resolve. A time scale longer than about half the largest lag is poorly
    determined, because ``C`` has not decayed within the lags given.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import fit_relaxation_times
    >>> lags = np.array([5, 10, 15, 20])
    >>> acf = np.exp(-lags[:, None] / np.array([4.0, 8.0]))
    >>> fit_relaxation_times(acf, lags).shape
    (2,)
    """
    acf = check_real_array(acf, "acf", ndim=2, allow_nan=True)
    if acf.shape[1] == 0:
        raise ValueError(
            f"acf has no features: shape {acf.shape}; expected (n_lags, n_features) "
            "with n_features >= 1."
        )
    lags = check_real_array(lags, "lags", ndim=1)
    if len(lags) != len(acf) or len(lags) == 0:
        raise ValueError(
            f"lags must hold one lag per row of acf ({len(acf)}); got {len(lags)}."
        )
    if lags[0] <= 0 or np.any(np.diff(lags) <= 0):
        raise ValueError(
            "lags must be positive and strictly increasing (C(0) = 1 is built into "
            f"the fit, so drop lag 0); got {lags}."
        )
    cutoff = check_real(cutoff, "cutoff", low=0.0, high=1.0, closed="neither")
    return _fit_relaxation_times(acf, lags, cutoff)[0]


def relaxation_times(X, *, max_lag=None, cutoff=_EXP_MINUS_2, n_blocks=5, center=True):
    """Relaxation times from exponential fits of autocorrelation functions.

    For each column ``ψ_i`` (e.g. each SRV coordinate), ``C_i(τ)`` of
    :func:`autocorrelation` is fitted with ``exp(-τ / t_i)`` by
    :func:`fit_relaxation_times`, as in the paper's Table 1; ``t_i`` is the
    relaxation time in frames. Standard errors come from the fits to ``n_blocks``
    contiguous blocks.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories.
    max_lag : int, default=None
        Largest lag computed, in frames. ``None`` uses a tenth of a block's length.
    cutoff : float, default=exp(-2)
        Fit window: lags ``1 .. L`` where ``L`` is the first lag at which ``C``
        falls below ``cutoff`` (included), or ``max_lag`` if it never does (see
        :func:`fit_relaxation_times`).
    n_blocks : int, default=5
        Number of contiguous blocks for the standard errors.
    center : bool, default=True
        See :func:`autocorrelation`.

    Returns
    -------
    result : Bunch
        ``timescales`` (n_features,) from all the data, ``standard_error``
        (n_features,), ``block_timescales`` (n_blocks, n_features),
        ``autocorrelation`` (max_lag + 1, n_features), ``lags`` (max_lag + 1,) and
        ``fit_window`` (n_features,), the last lag ``L`` of each fit. A constant
        column has no relaxation: its time scale is NaN (a ``UserWarning`` names
        such columns), and so are the block time scales of blocks in which it is
        constant and then its standard error.

    Raises
    ------
    TypeError
        ``X`` is not numeric, ``max_lag`` or ``n_blocks`` is not an int, ``cutoff``
        is not a float or ``center`` is not a bool.
    ValueError
        ``X`` is ragged, complex, not 2-D, empty or not finite; ``max_lag < 1`` or
        not shorter than the longest trajectory, ``n_blocks < 2``, the blocks are
        shorter than 3 frames, or ``cutoff`` is not in (0, 1).

    See Also
    --------
    fit_relaxation_times : The fit alone, on autocorrelations at any lags.
    msm_timescales : Implied time scales of a Markov state model.

    Notes
    -----
    These are not the implied time scales ``-τ / ln λ_i`` of a transfer operator
    (``SRVTransformer.timescales_``, :func:`msm_timescales`); for a process that
    is a single exponential both agree. A time scale longer than about
    ``max_lag / 2`` is poorly determined: ``C`` has not decayed within the
    computed lags. For a process that is not a single exponential the value
    depends on the window; compare data sets with the same ``cutoff`` and
    ``max_lag``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import relaxation_times
    >>> x = np.random.default_rng(0).normal(size=(5000, 2))
    >>> relaxation_times(x, max_lag=20).timescales.shape
    (2,)
    """
    trajs, _ = _trajectories(X, "X")
    blocks = _blocks(trajs, n_blocks, min_length=3)
    if max_lag is None:
        max_lag = max(1, len(np.concatenate(blocks[0])) // 10)
    max_lag = _check_max_lag(max_lag, trajs)
    cutoff = check_real(cutoff, "cutoff", low=0.0, high=1.0, closed="neither")
    center = _check_bool(center, "center")
    lags = np.arange(max_lag + 1)

    def fit(segments):
        acf, _ = _autocorrelation(segments, max_lag, center)
        times, window = _fit_relaxation_times(acf[1:], lags[1:], cutoff)
        times[_constant_columns(segments)] = np.nan
        return acf, times, window

    acf, times, window = fit(trajs)
    _warn_constant(_constant_columns(trajs), "X", "so their relaxation times are NaN")
    block_times = np.array([fit(segments)[1] for segments in blocks])
    return Bunch(
        timescales=times,
        standard_error=_standard_error(block_times),
        block_timescales=block_times,
        autocorrelation=acf,
        lags=lags,
        fit_window=window,
    )


def implied_timescales(
    X, *, max_lag=None, cutoff=_EXP_MINUS_2, n_blocks=5, center=True
):
    """Deprecated alias of :func:`relaxation_times`.

    .. deprecated:: 0.1
        Renamed to :func:`relaxation_times`, because implied time scales mean
        ``-τ / ln λ_i`` elsewhere (``SRVTransformer.timescales_``,
        :func:`msm_timescales`). The alias will be removed in the next release.
    """
    warnings.warn(
        "implied_timescales was renamed to relaxation_times: implied time scales "
        "mean -tau / ln(lambda) elsewhere (SRVTransformer.timescales_, "
        "msm_timescales). The alias will be removed in the next release.",
        FutureWarning,
        stacklevel=2,
    )
    return relaxation_times(
        X, max_lag=max_lag, cutoff=cutoff, n_blocks=n_blocks, center=center
    )


def msm_timescales(
    X, edges, *, lagtime=1, n_timescales=None, coordinate=0, reversible=True
):
    """Implied time scales of a Markov state model on a binned coordinate.

    Column ``coordinate`` of every trajectory is discretised on the bins
    ``edges`` (values outside go into the end bins); transitions are counted at
    ``lagtime`` with a sliding window, within trajectories; a maximum-likelihood
    Markov state model (deeptime's ``MaximumLikelihoodMSM``) is estimated on the
    largest connected set of states. Its implied time scales are
    ``-lagtime / ln |λ_i|`` for the eigenvalues ``λ_i`` after the stationary one.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories.
    edges : array-like of shape (n_bins + 1,)
        Strictly increasing bin edges, e.g. ``np.linspace(-1.3, 1.3, 101)``.
    lagtime : int, default=1
        Lag time of the model in frames.
    n_timescales : int, default=None
        Number of (slowest) time scales returned; ``None`` returns all,
        ``n_states - 1``.
    coordinate : int, default=0
        Column of ``X`` discretised.
    reversible : bool, default=True
        Estimate a reversible (detailed-balance) model.

    Returns
    -------
    ndarray of shape (n_timescales,)
        Implied time scales in frames, slowest first (none when the largest
        connected set holds a single state and ``n_timescales`` is None).

    Raises
    ------
    TypeError
        ``X`` is not numeric, ``edges`` is not an array of real numbers,
        ``lagtime``, ``n_timescales`` or ``coordinate`` is not an int, or
        ``reversible`` is not a bool.
    ValueError
        ``X`` is ragged, complex, empty or not finite; ``edges`` is not finite
        and strictly increasing; ``lagtime`` is not shorter than the longest
        trajectory; ``coordinate`` is out of range; the connected states have
        fewer than ``n_timescales`` time scales.

    See Also
    --------
    relaxation_times : Time scales from autocorrelation functions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import msm_timescales
    >>> x = np.cumsum(np.random.default_rng(0).normal(size=(5000, 1)), axis=0)
    >>> msm_timescales(x, np.linspace(x.min(), x.max(), 11), n_timescales=3).shape
    (3,)
    """
    return _msm_timescales(
        X, edges, lagtime, n_timescales, coordinate, reversible, "X", "edges"
    )


def _msm_timescales(
    X, edges, lagtime, n_timescales, coordinate, reversible, name, edges_name
):
    """:func:`msm_timescales` with the names of ``X`` and ``edges`` for errors."""
    from deeptime.markov import TransitionCountEstimator
    from deeptime.markov.msm import MaximumLikelihoodMSM

    trajs, _ = _trajectories(X, name)
    coordinate = _check_column(trajs, coordinate, name)
    edges = check_bin_edges(edges, edges_name)
    lagtime = check_lagtime(lagtime, trajectories=trajs, data_name=name)
    if n_timescales is not None:
        n_timescales = check_int(n_timescales, "n_timescales", 1)
    if not isinstance(reversible, bool | np.bool_):
        raise TypeError(
            f"reversible must be a bool; got {reversible!r} of type "
            f"{type(reversible).__name__}."
        )
    dtrajs = [
        np.clip(np.digitize(t[:, coordinate], edges) - 1, 0, len(edges) - 2)
        for t in trajs
    ]
    counts = TransitionCountEstimator(lagtime, "sliding").fit(dtrajs).fetch_model()
    counts = counts.submodel_largest()
    if counts.n_states < 2 and n_timescales is None:
        return np.empty(0)
    if counts.n_states < 2:
        raise ValueError(
            f"{name} has no transitions between two bins of {edges_name} at "
            f"lagtime={lagtime} (its largest connected set holds one state), so a "
            f"Markov state model has no time scale; use finer {edges_name} or "
            "longer trajectories."
        )
    if n_timescales is not None and n_timescales > counts.n_states - 1:
        raise ValueError(
            f"n_timescales={n_timescales} exceeds the {counts.n_states - 1} time "
            f"scales of a model of {name} on the {counts.n_states} states of its "
            f"largest connected set; pass fewer or use finer {edges_name}."
        )
    msm = MaximumLikelihoodMSM(reversible=bool(reversible)).fit(counts).fetch_model()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Multiple eigenvalues with magnitude one")
        timescales = np.asarray(msm.timescales(n_timescales), dtype=np.float64)
    if not np.all(np.isfinite(timescales)):
        raise ValueError(
            f"{name} does not determine finite time scales: the Markov model on its "
            f"{counts.n_states} connected states has eigenvalues of magnitude one "
            "besides the stationary one (a set of states the data never leave at "
            f"lagtime={lagtime}). Use more data, coarser edges or a shorter lag time."
        )
    return timescales


def _check_sample(x, name):
    x = check_real_array(x, name)
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D sample; got an array of shape {x.shape}. Pass one "
            "coordinate, e.g. X[:, 0], or flatten it."
        )
    if len(x) == 0:
        raise ValueError(f"{name} is empty; expected at least one value.")
    return x


def total_variation(reference, sample, *, bins=30, range=None):
    """Total-variation distance between the histograms of two 1-D samples.

    ``TV = sum_b |p_b - q_b| / 2`` over the bins ``b`` of the normalised
    histograms ``p`` of ``reference`` and ``q`` of ``sample``: 0 for identical
    histograms, 1 for histograms without a common bin.

    Parameters
    ----------
    reference, sample : array-like of shape (n_samples,)
        The two samples, e.g. one latent coordinate of the data and of generated
        trajectories.
    bins : int or array-like, default=30
        Number of equal bins over ``range`` or the bin edges (as in
        :func:`numpy.histogram`).
    range : (float, float), default=None
        Histogram range when ``bins`` is an int; ``None`` uses the reference's
        minimum and maximum.

    Returns
    -------
    float
        The distance, in [0, 1].

    Raises
    ------
    TypeError
        A sample is not an array of real numbers, ``bins`` is neither an int nor
        edges, or ``range`` is not a pair of numbers.
    ValueError
        A sample is not 1-D, empty, complex or not finite; ``bins < 1``, too many
        for the memory, or edges that are not finite and strictly increasing;
        ``range`` is not finite with low < high, or is given with edges.

    Notes
    -----
    Values outside the histogram's range are counted in its end bins, so all of
    each sample's probability is compared and a sample that leaves the range does
    not look closer than it is.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import total_variation
    >>> x = (np.arange(1000) + 0.5) / 1000  # evenly over [0, 1]
    >>> round(total_variation(x, x + 0.5, bins=np.linspace(0.0, 1.5, 16)), 6)
    0.5
    """
    reference = _check_sample(reference, "reference")
    sample = _check_sample(sample, "sample")
    bins, range = check_bins(bins, range)
    edges = histogram_edges(bins, range, reference, "reference")
    p, _ = np.histogram(np.clip(reference, edges[0], edges[-1]), bins=edges)
    q, _ = np.histogram(np.clip(sample, edges[0], edges[-1]), bins=edges)
    return float(0.5 * np.abs(p / p.sum() - q / q.sum()).sum())
