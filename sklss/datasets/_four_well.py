"""The 1-D four-well potential of the latent space simulator paper (section 3.1).

Brownian dynamics in ``V(x) = 2(x^8 + 0.8 e^{-80 x^2} + 0.2 e^{-80 (x-0.5)^2}
+ 0.5 e^{-40 (x+0.5)^2})`` with its exact stationary (Boltzmann) density and the
paper's analytical bin-to-bin transition probabilities.
"""

import math

import numpy as np
from sklearn.utils import Bunch

from .._data import (
    as_column,
    check_bin_edges,
    check_fits_in_memory,
    check_int,
    check_random_state_named,
    check_range,
    check_real,
    check_real_array,
    check_trajectories,
)

__all__ = [
    "compare_four_well",
    "four_well_bin_probabilities",
    "four_well_boltzmann_density",
    "four_well_potential",
    "four_well_transition_matrix",
    "make_four_well",
]

# The four well minima lie inside [-1, 1]; the x^8 wall makes the density there
# negligible (V(1.05) > 3 kT above every minimum), so this is the support we use.
_X_RANGE = (-1.0, 1.0)


def four_well_potential(x):
    """The four-well potential ``V(x)`` in units of kT.

    ``V(x) = 2 (x^8 + 0.8 e^{-80 x^2} + 0.2 e^{-80 (x-0.5)^2} + 0.5 e^{-40 (x+0.5)^2})``

    Parameters
    ----------
    x : float or array-like of shape (n,) or (n_frames, 1)
        Positions (dimensionless).

    Returns
    -------
    ndarray
        ``V(x)`` with the shape of ``x``.

    Raises
    ------
    TypeError
        ``x`` is not an array-like of real numbers.
    ValueError
        ``x`` is ragged, complex, not finite or has more than two dimensions, or
        ``|x|`` exceeds the range in which ``V`` is a finite float (about 1e38).

    Examples
    --------
    >>> from sklss.datasets import four_well_potential
    >>> four_well_potential([-0.5, 0.0, 0.5]).shape
    (3,)
    """
    return _potential(_check_positions(x, "x"))


# |x|**8 stays a finite float64 below this.
_MAX_POSITION = 1e38


def _check_positions(x, name):
    x = check_real_array(x, name)
    if x.ndim > 2:
        raise ValueError(
            f"{name} must be a number, a 1-D array of positions or a trajectory of "
            f"shape (n_frames, 1); got an array of shape {x.shape}."
        )
    if np.any(np.abs(x) > _MAX_POSITION):
        raise ValueError(
            f"{name} must lie within ±{_MAX_POSITION:g}, where the potential x**8 is "
            f"a finite float; got values up to {np.abs(x).max():.3g}."
        )
    return x


def _potential(x):
    return 2.0 * (
        x**8
        + 0.8 * np.exp(-80.0 * x**2)
        + 0.2 * np.exp(-80.0 * (x - 0.5) ** 2)
        + 0.5 * np.exp(-40.0 * (x + 0.5) ** 2)
    )


# Positions beyond this mean that the explicit integration has become unstable.
_MAX_DYNAMICS_POSITION = 1e3

# Quadrature grid of the Boltzmann weights, and the minimum of V on it: weights
# relative to the minimum stay <= 1 and do not underflow everywhere at small kT.
_GRID = np.linspace(-1.5, 1.5, 30001)
_V_MIN = float(_potential(_GRID).min())


def _force(x):
    """``-V'(x)`` for a Python float (the integrator's inner loop)."""
    e0 = math.exp(-80.0 * x * x)
    e1 = math.exp(-80.0 * (x - 0.5) * (x - 0.5))
    e2 = math.exp(-40.0 * (x + 0.5) * (x + 0.5))
    x7 = x**7
    return -2.0 * (
        8.0 * x7 - 128.0 * x * e0 - 32.0 * (x - 0.5) * e1 - 40.0 * (x + 0.5) * e2
    )


def four_well_boltzmann_density(x, kT=1.0):
    """The exact stationary density ``exp(-V(x)/kT) / Z`` of the four-well system.

    The partition function ``Z`` is computed by quadrature on ``[-1.5, 1.5]`` (the
    density outside is below 1e-30).

    Parameters
    ----------
    x : float or array-like of shape (n,) or (n_frames, 1)
        Positions.
    kT : float, default=1.0
        Thermal energy in the units of ``V``.

    Returns
    -------
    ndarray
        The normalised density at ``x``.

    Raises
    ------
    TypeError
        ``x`` is not an array-like of real numbers, or ``kT`` is not a float.
    ValueError
        ``x`` is ragged, complex or not finite (see :func:`four_well_potential`),
        or ``kT`` is not in ``[1e-3, 1e300]``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.datasets import four_well_boltzmann_density
    >>> four_well_boltzmann_density(np.linspace(-1, 1, 5)).shape
    (5,)
    """
    x = _check_positions(x, "x")
    kT = _check_kT(kT)
    grid, cdf = _boltzmann_cdf(kT)
    # exp(-(V - V_min) / kT) / (Z exp(V_min / kT)): no overflow at small kT.
    return np.exp(-(_potential(x) - _V_MIN) / kT) / cdf[-1]


# Smallest thermal energy: the density at the minima is then a finite float and
# the quadrature grid of _boltzmann_cdf resolves the wells (width ~ sqrt(kT)).
_MIN_KT = 1e-3
_MAX_KT = 1e300


def _check_kT(kT):
    return check_real(kT, "kT", low=_MIN_KT, high=_MAX_KT)


def _boltzmann_cdf(kT):
    """Unnormalised cumulative Boltzmann weight on ``[-1.5, 1.5]`` (trapezoid rule).

    The density outside is below 1e-30 of its maximum.
    """
    grid = _GRID
    weights = np.exp(-(_potential(grid) - _V_MIN) / kT)
    steps = 0.5 * (weights[1:] + weights[:-1]) * np.diff(grid)
    return grid, np.concatenate([[0.0], np.cumsum(steps)])


def four_well_bin_probabilities(edges, kT=1.0):
    """The exact probability of each bin under the Boltzmann density.

    The first and the last bin also hold the probability beyond ``edges[0]`` and
    ``edges[-1]``, as a histogram with values outside its range counted in its end
    bins (the convention of :func:`sklss.analysis.total_variation`); the
    probabilities therefore sum to 1.

    Parameters
    ----------
    edges : array-like of shape (n_bins + 1,)
        Strictly increasing bin edges.
    kT : float, default=1.0
        Thermal energy in the units of ``V``.

    Returns
    -------
    ndarray of shape (n_bins,)
        Probabilities, computed by quadrature of ``exp(-V(x)/kT)``.

    Raises
    ------
    TypeError
        ``edges`` is not an array-like of real numbers or ``kT`` is not a float.
    ValueError
        ``edges`` is not 1-D, finite and strictly increasing with at least two
        edges, or ``kT`` is not in ``[1e-3, 1e300]``.

    See Also
    --------
    four_well_boltzmann_density : The density itself.
    compare_four_well : Compares trajectories with these probabilities.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.datasets import four_well_bin_probabilities
    >>> p = four_well_bin_probabilities(np.linspace(-1, 1, 21))
    >>> p.shape, bool(np.isclose(p.sum(), 1.0))
    ((20,), True)
    """
    edges = check_bin_edges(edges, "edges")
    kT = _check_kT(kT)
    grid, cdf = _boltzmann_cdf(kT)
    at_edges = np.interp(edges, grid, cdf / cdf[-1])
    at_edges[0], at_edges[-1] = 0.0, 1.0
    return np.diff(at_edges)


def compare_four_well(
    reference,
    generated,
    *,
    edges=None,
    msm_edges=None,
    lagtime=1,
    n_timescales=3,
):
    """Trajectories of the four-well system against its exact solution and each other.

    The validation of paper section 3.1: the stationary distributions of the
    reference (e.g. Brownian dynamics from :func:`make_four_well`) and of the
    generated trajectories (e.g. from an :class:`~sklss.MDNPropagator` fitted on
    ``x``) are compared with the exact Boltzmann probabilities of the bins
    ``edges`` and with each other by their total-variation distance, and the
    implied time scales of Markov state models on the bins ``msm_edges`` are
    computed for both (:func:`sklss.analysis.msm_timescales`).

    Parameters
    ----------
    reference, generated : array-like of shape (n_frames, 1) or list of such
        Trajectories of ``x``; a 3-D array ``(n_trajectories, n_frames, 1)``, as
        :meth:`MDNPropagator.sample <sklss.MDNPropagator.sample>` returns for
        several starting points, is a stack of trajectories.
    edges : array-like of shape (n_bins + 1,), default=None
        Bins of the stationary distributions; ``None`` uses 60 equal bins on
        ``[-1.2, 1.2]``. Values outside are counted in the end bins.
    msm_edges : array-like of shape (n_states + 1,), default=None
        Bins of the Markov state models; ``None`` uses 100 equal bins on
        ``[-1.3, 1.3]``.
    lagtime : int, default=1
        Lag time of the Markov state models in frames.
    n_timescales : int, default=3
        Number of implied time scales computed.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        edges : ndarray of shape (n_bins + 1,)
            The bins of the stationary distributions.
        exact : ndarray of shape (n_bins,)
            Exact bin probabilities (:func:`four_well_bin_probabilities`).
        reference_probabilities, generated_probabilities : ndarray
            Normalised histograms on ``edges``, of shape (n_bins,).
        tv_generated_vs_exact, tv_reference_vs_exact : float
            Total-variation distances ``sum_b |p_b - q_b| / 2`` to ``exact``.
        tv_generated_vs_reference : float
            Total-variation distance between the two histograms.
        timescales_reference, timescales_generated : ndarray
            Implied time scales in frames, of shape (n_timescales,), of reversible
            maximum-likelihood Markov state models, slowest first.

    Raises
    ------
    TypeError
        The trajectories are not numeric, the edges are not arrays of real
        numbers, or ``lagtime`` or ``n_timescales`` is not an int.
    ValueError
        A trajectory is ragged, complex, not finite, has fewer than two frames or
        more than one feature; the edges are not finite and strictly increasing;
        ``lagtime`` or ``n_timescales`` is out of range (see
        :func:`sklss.analysis.msm_timescales`).

    Examples
    --------
    >>> from sklss.datasets import compare_four_well, make_four_well
    >>> bd = make_four_well(200_000, stride=100, random_state=0)
    >>> other = make_four_well(200_000, stride=100, random_state=1)
    >>> result = compare_four_well(bd, other, n_timescales=2)
    >>> result.exact.shape, result.timescales_generated.shape
    ((60,), (2,))
    """
    from ..analysis import total_variation
    from ..analysis._kinetics import _msm_timescales

    edges = check_bin_edges(
        np.linspace(-1.2, 1.2, 61) if edges is None else edges, "edges"
    )
    lagtime = check_int(lagtime, "lagtime", 1)
    n_timescales = check_int(n_timescales, "n_timescales", 1)
    msm_edges = check_bin_edges(
        np.linspace(-1.3, 1.3, 101) if msm_edges is None else msm_edges, "msm_edges"
    )
    trajs = {
        "reference": _as_trajectories(reference, "reference"),
        "generated": _as_trajectories(generated, "generated"),
    }
    exact = four_well_bin_probabilities(edges)
    x = {name: np.concatenate([t[:, 0] for t in ts]) for name, ts in trajs.items()}
    probabilities = {
        name: np.histogram(np.clip(v, edges[0], edges[-1]), edges)[0] / len(v)
        for name, v in x.items()
    }
    timescales = {
        name: _msm_timescales(
            ts, msm_edges, lagtime, n_timescales, 0, True, name, "msm_edges"
        )
        for name, ts in trajs.items()
    }
    return Bunch(
        edges=edges,
        exact=exact,
        reference_probabilities=probabilities["reference"],
        generated_probabilities=probabilities["generated"],
        tv_generated_vs_exact=_distance(probabilities["generated"], exact),
        tv_reference_vs_exact=_distance(probabilities["reference"], exact),
        tv_generated_vs_reference=total_variation(
            x["reference"], x["generated"], bins=edges
        ),
        timescales_reference=timescales["reference"],
        timescales_generated=timescales["generated"],
    )


def _distance(p, q):
    """Total-variation distance of two probability vectors."""
    return 0.5 * float(np.abs(p - q).sum())


def _as_trajectories(X, name):
    """One ``(n_frames, 1)`` trajectory, a list or a stack of them, as a list."""
    if isinstance(X, list | tuple):
        items, is_list = list(X), True
    else:
        X = as_column(X)
        is_list = getattr(X, "ndim", None) == 3
        items = [as_column(a) for a in X] if is_list else [X]
    trajs = check_trajectories(
        None,
        items if is_list else items[0],
        reset=True,
        name=name,
        n_features_attr=None,
    )
    for a in trajs:
        if a.shape[1] != 1 or len(a) < 2:
            raise ValueError(
                f"{name} must be a trajectory of shape (n_frames, 1) with at least "
                f"two frames, or a list of such; got shape {a.shape}."
            )
    return [np.asarray(a, dtype=np.float64) for a in trajs]


def four_well_transition_matrix(n_bins=100, x_range=_X_RANGE, kT=1.0):
    """The paper's analytical bin-to-bin transition probabilities.

    The domain is cut into ``n_bins`` equal bins and
    ``p(j | i) = C_i exp(-(V_j - V_i)/kT)`` for ``|i - j| <= 1`` (zero otherwise),
    where ``V_i`` is the potential at the centre of bin ``i`` and ``C_i`` normalises
    row ``i`` (paper section 3.1, after Chen et al., J. Chem. Phys. 2019).

    Parameters
    ----------
    n_bins : int, default=100
        Number of bins.
    x_range : (float, float), default=(-1.0, 1.0)
        The domain ``(low, high)``.
    kT : float, default=1.0
        Thermal energy in the units of ``V``.

    Returns
    -------
    centers : ndarray of shape (n_bins,)
        Bin centres.
    P : ndarray of shape (n_bins, n_bins)
        Row-stochastic transition matrix, ``P[i, j] = p(j | i)``.

    Raises
    ------
    TypeError
        ``n_bins`` is not an int (``bool`` is refused), ``x_range`` is not a pair
        of numbers or ``kT`` is not a float.
    ValueError
        ``n_bins < 1``, ``x_range`` is not finite with low < high or leaves the
        range where the potential is finite, ``kT`` is not in ``[1e-3, 1e300]``,
        or the matrix would not fit in the available memory.

    Examples
    --------
    >>> from sklss.datasets import four_well_transition_matrix
    >>> centers, P = four_well_transition_matrix(100)
    >>> P.shape
    (100, 100)
    """
    n_bins = check_int(n_bins, "n_bins", 1)
    low, high = _check_positions(check_range(x_range, "x_range"), "x_range")
    kT = _check_kT(kT)
    # P and the temporaries of its normalisation.
    check_fits_in_memory(3 * 8 * n_bins**2, {"n_bins": n_bins})
    edges = np.linspace(low, high, n_bins + 1)
    centers = 0.5 * (edges[:-1] + edges[1:])
    V = _potential(centers) / kT
    # Each row relative to the lowest of its bin's neighbours, so that no weight
    # overflows; normalising the row removes the common factor.
    lowest = V.copy()
    lowest[1:] = np.minimum(lowest[1:], V[:-1])
    lowest[:-1] = np.minimum(lowest[:-1], V[1:])
    P = np.zeros((n_bins, n_bins))
    for offset in (-1, 0, 1):
        i = np.arange(max(0, -offset), min(n_bins, n_bins - offset))
        P[i, i + offset] = np.exp(lowest[i] - V[i + offset])
    P /= P.sum(axis=1, keepdims=True)
    return centers, P


def make_four_well(
    n_steps=1_000_000,
    *,
    stride=1,
    dt=1e-3,
    kT=1.0,
    x0=None,
    random_state=None,
):
    """Brownian dynamics trajectory in the four-well potential.

    Overdamped Langevin dynamics integrated with Euler-Maruyama,
    ``x_{n+1} = x_n - V'(x_n) dt + sqrt(2 kT dt) xi_n`` with ``xi_n ~ N(0, 1)``, in a
    dimensionless gauge with unit mobility (``D = kT``). With the defaults
    (``kT = 1``, ``dt = 1e-3``) this is exactly the update of MSMBuilder's
    Brownian-dynamics example systems that the paper cites for its
    "``D = kT = 1000``, ``dt = 0.001``" gauge (their noise term
    ``dt * sqrt(2 D)`` equals ``sqrt(2 kT dt)`` with ``kT = 1``), so the stationary
    density is ``exp(-V(x)) / Z`` and the paper's analytical transition densities
    ``exp(-(V_j - V_i))`` (in kT) apply. Barriers are 1-3.2 kT, so the four wells are
    metastable with slowest relaxation times of a few hundred to a few thousand steps.

    Parameters
    ----------
    n_steps : int, default=1_000_000
        Number of integration steps (the paper used 5e6).
    stride : int, default=1
        Keep every ``stride``-th frame. The returned frames are ``stride * dt``
        apart in time, so a lag of 100 steps is ``100 // stride`` frames.
    dt : float, default=1e-3
        Time step.
    kT : float, default=1.0
        Thermal energy (``V`` is given in the same units).
    x0 : float or None, default=None
        Starting position. ``None`` draws it from the Boltzmann density, so the
        trajectory is in equilibrium from its first frame.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    X : ndarray of shape (n_steps // stride + 1, 1)
        The trajectory (float64), first frame ``x0``.

    Raises
    ------
    TypeError
        ``n_steps`` or ``stride`` is not an int (``bool`` is refused), ``dt``,
        ``kT`` or ``x0`` is not a float, or ``random_state`` is not None, an int
        or a RandomState.
    ValueError
        ``n_steps`` or ``stride`` is below 1, ``dt`` or ``kT`` is not a positive
        finite float, ``x0`` is not finite, ``random_state`` is outside
        ``[0, 2**32 - 1]``, the trajectory would not fit in the available memory,
        or the integration diverges (``dt`` or ``kT`` too large, or ``x0`` far
        outside the wells).

    Notes
    -----
    The integrator is a scalar loop over steps (a single trajectory is inherently
    sequential) drawing its Gaussian noise in vectorised chunks; about 1 s per 1e6
    steps.

    Examples
    --------
    >>> from sklss.datasets import make_four_well
    >>> X = make_four_well(10_000, stride=10, random_state=0)
    >>> X.shape
    (1001, 1)
    """
    n_steps = check_int(n_steps, "n_steps", 1)
    stride = check_int(stride, "stride", 1)
    dt = check_real(dt, "dt", low=0.0, closed="neither")
    kT = check_real(kT, "kT", low=0.0, closed="neither")
    x0 = check_real(x0, "x0", allow_none=True)
    rng = check_random_state_named(random_state)
    n_frames = n_steps // stride + 1
    check_fits_in_memory(8 * n_frames, {"n_steps": n_steps, "stride": stride})
    if x0 is None:
        grid = np.linspace(-1.2, 1.2, 24001)
        cdf = np.cumsum(np.exp(-(_potential(grid) - _V_MIN) / kT))
        x = float(np.interp(rng.uniform(0, cdf[-1]), cdf, grid))
    else:
        x = x0
    out = np.empty(n_frames)
    out[0] = x
    noise_scale = math.sqrt(2.0 * kT * dt)
    chunk = 65536
    frame = 1
    step = 0
    while step < n_steps:
        # Noise drawn in chunks: one numpy call per 65536 steps, not per step.
        kicks = (rng.standard_normal(min(chunk, n_steps - step)) * noise_scale).tolist()
        try:
            for kick in kicks:
                x += _force(x) * dt + kick
                step += 1
                if step % stride == 0:
                    out[frame] = x
                    frame += 1
        except OverflowError:
            x = math.inf
        if not abs(x) <= _MAX_DYNAMICS_POSITION:
            raise ValueError(
                f"The Brownian dynamics diverged by step {step} (|x| beyond "
                f"{_MAX_DYNAMICS_POSITION:g}, where the wall x**8 makes every step "
                f"overshoot): reduce dt (got {dt:g}) or kT (got {kT:g}), or start "
                f"x0 (got {x0!r}) closer to the wells in [-1, 1]."
            )
    return out[:, None]


def four_well_transition_density(edges, lag, kT=1.0):
    """Exact transition density ``p(x' | x)`` of the four-well Brownian dynamics.

    The dynamics of :func:`make_four_well` (unit mobility, ``D = kT``) obey the
    Smoluchowski equation ``dp/dt = d/dx (V'(x) p + kT dp/dx)``. Its generator is
    discretised on the bins ``edges`` by the square-root approximation (rates
    ``(kT / h^2) exp(-(V_j - V_i) / (2 kT))`` between neighbouring bins of width
    ``h``; the Boltzmann distribution is stationary and detailed balance exact)
    and exponentiated with :func:`scipy.linalg.expm`. A reference for a learned
    propagator that uses neither samples nor fitting; with 260 bins on
    ``[-1.3, 1.3]`` its slowest implied time scales agree with those of Markov
    state models of long Brownian dynamics runs within their statistical error.

    Parameters
    ----------
    edges : array-like of shape (n_bins + 1,)
        Equally spaced bin edges (fine bins are more exact: the approximation's
        error falls with the square of the bin width).
    lag : float
        Time interval, in the units of :func:`make_four_well`'s ``dt`` (a frame
        ``stride`` steps apart is ``stride * dt``).
    kT : float, default=1.0
        Thermal energy in the units of the potential.

    Returns
    -------
    centers : ndarray of shape (n_bins,)
        Bin centres.
    density : ndarray of shape (n_bins, n_bins)
        ``density[i, j] = p(x_j | x_i)``, a density in ``x'``: every row times
        the bin width sums to 1.

    Raises
    ------
    TypeError
        ``edges`` is not an array of real numbers, or ``lag`` or ``kT`` is not a
        real number.
    ValueError
        ``edges`` are not finite, strictly increasing and equally spaced, or
        leave the range where the potential is finite; ``lag`` or ``kT`` is not
        positive.

    See Also
    --------
    four_well_transition_matrix : the paper's nearest-neighbour bin chain.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.datasets import four_well_transition_density
    >>> edges = np.linspace(-1.3, 1.3, 261)
    >>> centers, density = four_well_transition_density(edges, lag=0.1)
    >>> float(np.round(density.sum(axis=1)[0] * (edges[1] - edges[0]), 6))
    1.0
    """
    from scipy.linalg import expm

    edges = check_bin_edges(edges, "edges")
    widths = np.diff(edges)
    if not np.allclose(widths, widths[0], rtol=1e-6, atol=0.0):
        raise ValueError("edges must be equally spaced; got bins of several widths.")
    lag = check_real(lag, "lag", low=0.0, closed="neither")
    kT = check_real(kT, "kT", low=0.0, closed="neither")
    centers = 0.5 * (edges[1:] + edges[:-1])
    h = float(widths[0])
    V = four_well_potential(centers)
    n = len(centers)
    K = np.zeros((n, n))
    i = np.arange(n - 1)
    K[i, i + 1] = kT / h**2 * np.exp(-(V[i + 1] - V[i]) / (2 * kT))
    K[i + 1, i] = kT / h**2 * np.exp(-(V[i] - V[i + 1]) / (2 * kT))
    K[np.arange(n), np.arange(n)] = -K.sum(axis=1)
    P = np.clip(expm(K * lag), 0.0, None)
    P /= P.sum(axis=1, keepdims=True)
    return centers, P / h
