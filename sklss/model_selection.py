"""Choosing the lag time and the latent dimension of a latent space simulator.

The propagator of a latent space simulator assumes that the latent dynamics are
Markovian at its lag time, and the latent space must hold the processes that it
should reproduce. Both choices are read off the spectrum of the transfer operator
estimated at several lag times, the implied-time-scale analysis of Markov state
modelling: :func:`select_lagtime` scans candidate lag times and applies a
convergence rule, :func:`select_dimension` counts the slow processes at a lag
and :func:`make_encoder` builds the encoder of that many slow coordinates plus
structural ones.
:func:`split_trajectory` cuts one long trajectory into segments for
cross-validation by trajectory, and :class:`TrajectoryKFold` folds a list of
trajectories.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import Bunch

from ._data import check_int, check_real, check_real_array, check_trajectories

__all__ = [
    "TrajectoryKFold",
    "make_encoder",
    "select_dimension",
    "select_lagtime",
    "split_trajectory",
]

# Round-off by which an estimated eigenvalue may exceed 1 in magnitude.
_EIGENVALUE_TOLERANCE = 1e-6


def _check_lagtimes(lagtimes, longest):
    try:
        values = list(lagtimes)
    except TypeError:
        raise TypeError(
            f"lagtimes must be a sequence of ints; got {type(lagtimes).__name__}."
        ) from None
    if not values:
        raise ValueError("lagtimes must hold at least one lag time; got none.")
    for lag in values:
        if isinstance(lag, bool) or not isinstance(lag, numbers.Integral) or lag < 1:
            raise ValueError(f"lagtimes must be positive ints; got {lag!r}.")
    values = [int(lag) for lag in values]
    if any(b <= a for a, b in zip(values[:-1], values[1:], strict=False)):
        raise ValueError(f"lagtimes must be strictly increasing; got {values}.")
    if values[-1] >= longest:
        raise ValueError(
            f"lagtimes must be shorter than the longest trajectory ({longest} "
            f"frames); got {values[-1]}."
        )
    return values


def _implied_timescales(eigenvalues, lagtime):
    """``-lagtime / ln(lambda)``; 0 where ``lambda <= 0`` (decayed within a lag)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    out = np.zeros(lam.shape)
    ok = (lam > 0) & (lam < 1)
    out[ok] = -lagtime / np.log(lam[ok])
    out[lam >= 1] = np.inf
    return out


def select_lagtime(
    X,
    lagtimes,
    *,
    estimator=None,
    n_processes=1,
    rtol=0.1,
    min_steps=2.0,
    fast_fraction=0.5,
):
    """Select a lag time from the convergence of implied time scales.

    An estimator of the transfer operator's spectrum (by default an
    :class:`~sklss.SRVTransformer`) is fitted at every candidate lag time ``tau``
    and the implied time scales ``t_i(tau) = -tau / ln(lambda_i(tau))`` of its
    eigenvalues are computed. The selected lag time is the **smallest candidate
    ``tau`` at which**, for each of the ``n_processes`` slowest processes
    ``i = 1 .. n_processes``,

    1. *converged*: ``|t_i(tau) - t_i(tau')| <= rtol * t_i(tau')``, with ``tau'``
       the next larger candidate (the time scale no longer grows with the lag time,
       the usual test that the dynamics are Markovian at ``tau``);
    2. *resolved*: ``t_i(tau) >= min_steps * tau`` (the propagator takes several
       steps per relaxation of the process);

    and 3. *separated*: the next process has decayed to ``exp(-2)`` or less within
    one step, ``t_{n_processes + 1}(tau) <= fast_fraction * tau`` (with the
    defaults ``t_2 <= tau / 2``), so that the processes left out look like
    uncorrelated noise at this lag time. ``fast_fraction=None`` drops this
    condition; it is also dropped when the estimator has no more than
    ``n_processes`` components.

    The largest candidate cannot be tested for convergence. When no candidate
    satisfies the rule, a ``UserWarning`` is raised and the largest candidate at
    which the slowest process is resolved (condition 2 for ``i = 1``) is
    returned, or the smallest candidate when there is none.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such arrays
        The trajectory or trajectories (features, as passed to the estimator).
    lagtimes : sequence of int
        Candidate lag times in frames, strictly increasing, each shorter than the
        longest trajectory.
    estimator : estimator or None, default=None
        Unfitted estimator with a ``lagtime`` parameter that has an
        ``eigenvalues_`` attribute after ``fit`` (the eigenvalues of the transfer
        operator at ``lagtime`` in descending order, the stationary eigenvalue 1
        excluded), such as :class:`~sklss.SRVTransformer`; a clone is fitted at
        every lag time. ``None`` uses ``SRVTransformer(n_components=k)`` with
        ``k = min(n_processes + 1, n_features)``.
    n_processes : int, default=1
        Number of slow processes whose time scales must be converged and resolved.
    rtol : float, default=0.1
        Relative tolerance of the convergence test (condition 1).
    min_steps : float, default=2.0
        Minimum time scale of the slow processes in lag times (condition 2).
    fast_fraction : float or None, default=0.5
        Maximum time scale of the next process in lag times (condition 3), or
        None.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With the attributes

        lagtime : int
            The selected lag time in frames.
        converged : bool
            Whether a candidate satisfied the rule (False: the fallback was used).
        lagtimes : ndarray of shape (n_lagtimes,)
            The candidates.
        eigenvalues : ndarray of shape (n_lagtimes, n_components)
            The estimated eigenvalues at each candidate.
        timescales : ndarray of shape (n_lagtimes, n_components)
            Implied time scales in frames; ``0`` where the eigenvalue is ``<= 0``
            (the process decayed within one lag time).
        admissible : ndarray of bool of shape (n_lagtimes,)
            Which candidates satisfied the rule (the largest never does).
        estimator : estimator
            The estimator fitted at the selected lag time.

    Raises
    ------
    TypeError
        ``X`` is not numeric, ``lagtimes`` is not a sequence, ``n_processes`` is
        not an int, a float parameter is not a real number, or ``estimator`` is
        not an estimator instance with a ``lagtime`` parameter and an
        ``eigenvalues_`` attribute after ``fit``.
    ValueError
        ``X`` is ragged, complex, empty or not finite; ``lagtimes`` is empty, not
        positive, strictly increasing ints shorter than the longest trajectory;
        ``n_processes < 1`` or more than the estimator's eigenvalues; ``rtol``,
        ``min_steps`` or ``fast_fraction`` is negative or not finite.

    See Also
    --------
    select_dimension : The latent dimension from the spectrum at the lag time.
    sklss.LatentSpaceSimulator.score : Cross-validated comparison of lag times.

    Notes
    -----
    The rule is the implied-time-scale analysis of Markov state models [1]_ applied
    to the eigenvalues of a variational estimator, as for the SRV of latent space
    simulators [2]_. Short scans (few epochs) are usually enough to read off the
    time scales; they raise ``ConvergenceWarning`` s that can be filtered.

    References
    ----------
    .. [1] W. C. Swope, J. W. Pitera, F. Suits, "Describing protein folding
       kinetics by molecular dynamics simulations. 1. Theory", J. Phys. Chem. B
       108, 6571 (2004).
    .. [2] H. Sidky, W. Chen, A. L. Ferguson, "Molecular latent space simulators",
       Chem. Sci. 11, 9459 (2020).

    Examples
    --------
    >>> import warnings
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> from sklss import SRVTransformer
    >>> from sklss.datasets import make_swissroll
    >>> from sklss.model_selection import select_lagtime
    >>> X = make_swissroll(5000, random_state=0)
    >>> srv = SRVTransformer(n_components=2, hidden_layer_sizes=(16,),
    ...                      max_epochs=5, random_state=0)
    >>> with warnings.catch_warnings():
    ...     warnings.filterwarnings("ignore", category=ConvergenceWarning)
    ...     result = select_lagtime(X, [2, 5, 10], estimator=srv, fast_fraction=None)
    >>> result.timescales.shape
    (3, 2)
    """
    trajs = check_trajectories(None, X, reset=True, n_features_attr=None)
    lagtimes = _check_lagtimes(lagtimes, max(trajs.lengths))
    n_processes = check_int(n_processes, "n_processes", 1)
    rtol = check_real(rtol, "rtol", low=0.0)
    min_steps = check_real(min_steps, "min_steps", low=0.0)
    fast_fraction = check_real(fast_fraction, "fast_fraction", low=0.0, allow_none=True)
    if estimator is None:
        from ._srv import SRVTransformer

        n_features = trajs[0].shape[1]
        estimator = SRVTransformer(n_components=min(n_processes + 1, n_features))
    if isinstance(estimator, type) or not all(
        callable(getattr(estimator, method, None)) for method in ("get_params", "fit")
    ):
        raise TypeError(
            "estimator must be an unfitted scikit-learn estimator instance with a "
            "lagtime parameter (such as sklss.SRVTransformer()) or None; got "
            f"{estimator!r} of type {type(estimator).__name__}."
        )
    if "lagtime" not in estimator.get_params():
        raise TypeError(
            f"estimator must have a lagtime parameter; {type(estimator).__name__} "
            "has none."
        )

    fitted, eigenvalues = [], []
    for lag in lagtimes:
        est = clone(estimator).set_params(lagtime=lag).fit(X)
        if not hasattr(est, "eigenvalues_"):
            raise TypeError(
                f"estimator must have an eigenvalues_ attribute after fit; "
                f"{type(est).__name__} has none."
            )
        fitted.append(est)
        eigenvalues.append(np.asarray(est.eigenvalues_, dtype=np.float64).ravel())
    n_components = min(len(e) for e in eigenvalues)
    if n_components < n_processes:
        raise ValueError(
            f"n_processes={n_processes} exceeds the {n_components} eigenvalues the "
            "estimator provides."
        )
    lam = np.array([e[:n_components] for e in eigenvalues])
    lags = np.asarray(lagtimes)
    t = np.array(
        [_implied_timescales(row, lag) for row, lag in zip(lam, lags, strict=True)]
    )

    slow = t[:, :n_processes]
    resolved = np.all(slow >= min_steps * lags[:, None], axis=1)
    converged = np.zeros(len(lags), dtype=bool)
    converged[:-1] = np.all(
        np.abs(slow[:-1] - slow[1:]) <= rtol * slow[1:], axis=1
    ) & np.all(np.isfinite(slow[:-1]), axis=1)
    separated = np.ones(len(lags), dtype=bool)
    if fast_fraction is not None and n_components > n_processes:
        separated = t[:, n_processes] <= fast_fraction * lags
    admissible = converged & resolved & separated

    if admissible.any():
        chosen = int(np.flatnonzero(admissible)[0])
    else:
        resolving = np.flatnonzero(t[:, 0] >= min_steps * lags)
        chosen = int(resolving[-1]) if len(resolving) else 0
        warnings.warn(
            f"No candidate lag time in {lagtimes} satisfies the convergence rule; "
            f"using lagtime={lagtimes[chosen]}. Try longer or more lag times.",
            UserWarning,
            stacklevel=2,
        )
    return Bunch(
        lagtime=lagtimes[chosen],
        converged=bool(admissible.any()),
        lagtimes=lags,
        eigenvalues=lam,
        timescales=t,
        admissible=admissible,
        estimator=fitted[chosen],
    )


def select_dimension(eigenvalues, *, n_structural=1):
    """Latent dimension: the slow processes at the lag time plus faster structure.

    A process is *slow* when it survives one lag time, ``lambda_i > exp(-1)``: its
    implied time scale ``-tau / ln(lambda_i)`` is longer than the lag time ``tau``.
    These are the kinetics the propagator must reproduce; at least one is counted.
    ``n_structural`` structural coordinates are added for the decoder: they tell it
    which configurational substate a frame is in, which the slow coordinates alone
    do not; the propagator samples them as fast variables. Where the next
    eigenvalues are near zero at the lag time, an SRV's further eigenfunctions are
    poorly determined (any function uncorrelated with the slow ones scores about
    the same, so the structure they resolve changes with the training seed);
    :func:`make_encoder` (as ``sklss demo`` and ``sklss fit`` do) therefore takes
    the leading principal components of the standardised features as the
    structural coordinates (user guide, "Checking the thermodynamics").

    Parameters
    ----------
    eigenvalues : array-like of shape (n_eigenvalues,)
        Eigenvalues of the transfer operator at the lag time in descending order,
        the stationary eigenvalue 1 excluded (e.g.
        :attr:`SRVTransformer.eigenvalues_ <sklss.SRVTransformer>` or
        ``select_lagtime(...).estimator.eigenvalues_``).
    n_structural : int, default=1
        Number of structural coordinates added to the slow ones.

    Returns
    -------
    n_components : int
        ``n_slow + n_structural``, at most ``n_eigenvalues``.
    n_slow : int
        The number of slow processes (at least 1).

    Raises
    ------
    TypeError
        ``eigenvalues`` is not an array of real numbers or ``n_structural`` is
        not an int.
    ValueError
        ``eigenvalues`` is empty, not 1-D, complex, not finite or outside
        ``[-1, 1]``, or ``n_structural < 0``.

    See Also
    --------
    select_lagtime : The lag time from implied-time-scale convergence.

    Examples
    --------
    >>> from sklss.model_selection import select_dimension
    >>> select_dimension([0.9, 0.5, 0.1], n_structural=1)
    (3, 2)
    >>> select_dimension([0.9, 0.5, 0.1], n_structural=0)
    (2, 2)
    """
    lam = check_real_array(eigenvalues, "eigenvalues")
    if lam.ndim != 1 or len(lam) == 0:
        raise ValueError(
            f"eigenvalues must be a non-empty 1-D array; got shape {lam.shape}."
        )
    # Eigenvalues of a transfer operator lie in [-1, 1] (up to round-off).
    outside = np.abs(lam) > 1.0 + _EIGENVALUE_TOLERANCE
    if outside.any():
        raise ValueError(
            "eigenvalues must lie in [-1, 1] (eigenvalues of a transfer operator); "
            f"got {float(lam[outside][0])!r}."
        )
    n_structural = check_int(n_structural, "n_structural", 0)
    n_slow = max(1, int(np.sum(lam > np.exp(-1))))
    return min(n_slow + int(n_structural), len(lam)), n_slow


def make_encoder(n_slow, n_structural=2, *, incremental=False, **srv_params):
    """The encoder :func:`select_dimension` describes: slow SRV coordinates, then
    principal components of the features as structural coordinates.

    The SRV's coordinates beyond the slow ones have eigenvalues near zero at the
    lag time: any function uncorrelated with the slow ones scores about the same,
    so which structure they resolve for the decoder changes from one training seed
    to the next. Principal components of the standardised features are fixed by
    the data and hold its largest structural variations; the propagator samples
    them as fast variables. On alanine dipeptide, the slow coordinate and two
    components explained 94-95 % of the backbone torsions' variance for every seed
    (user guide, "Checking the thermodynamics").

    Parameters
    ----------
    n_slow : int
        SRV coordinates (the slow processes, e.g. the second value returned by
        :func:`select_dimension`).
    n_structural : int, default=2
        Principal components added; 0 returns the SRV alone.
    incremental : bool, default=False
        Use :class:`~sklearn.decomposition.IncrementalPCA`, which
        :class:`~sklss.FrameWise` fits from a feature store batch by batch without
        loading it (``PCA`` reads the features into memory).
    **srv_params
        Further parameters of the :class:`~sklss.SRVTransformer`.

    Returns
    -------
    encoder : FeatureUnion or SRVTransformer
        A :class:`~sklss.FeatureUnion` of ``("srv", SRVTransformer(n_slow))``
        and ``("structure", FrameWise(make_pipeline(StandardScaler(),
        PCA(n_structural))))``, unfitted: a :class:`~sklss.LatentSpaceSimulator`'s
        encoder.

    Raises
    ------
    TypeError
        ``n_slow`` or ``n_structural`` is not an int.
    ValueError
        ``n_slow < 1`` or ``n_structural < 0``.

    Examples
    --------
    >>> from sklss.model_selection import make_encoder, select_dimension
    >>> n_components, n_slow = select_dimension([0.9, 0.2, 0.01])
    >>> encoder = make_encoder(n_slow, 2, max_epochs=50)
    >>> [name for name, _ in encoder.transformer_list]
    ['srv', 'structure']
    """
    from sklearn.decomposition import PCA, IncrementalPCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import FeatureUnion, FrameWise, SRVTransformer

    n_slow = check_int(n_slow, "n_slow", 1)
    n_structural = check_int(n_structural, "n_structural", 0)
    srv = SRVTransformer(n_components=n_slow, **srv_params)
    if n_structural == 0:
        return srv
    pca = (IncrementalPCA if incremental else PCA)(n_components=n_structural)
    structure = FrameWise(make_pipeline(StandardScaler(), pca))
    return FeatureUnion([("srv", srv), ("structure", structure)])


def split_trajectory(X, n_segments):
    """Cut one trajectory into ``n_segments`` contiguous segments of near-equal length.

    Use it to cross-validate a single long trajectory by trajectory: each segment is
    treated as an independent trajectory, so no time-lagged pair spans two folds.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features)
    n_segments : int

    Returns
    -------
    list of ndarray
        Views into ``X`` (nothing is copied).
    """
    check_int(n_segments, "n_segments", 1)
    X = check_trajectories(None, X, reset=True, n_features_attr=None)
    if X.is_list:
        raise TypeError("X must be a single trajectory (2-D array), not a list.")
    X = X[0]
    if not 1 <= n_segments <= len(X):
        raise ValueError(
            f"n_segments must be in [1, n_frames={len(X)}]; got {n_segments}."
        )
    return np.array_split(X, n_segments, axis=0)


class TrajectoryKFold(BaseCrossValidator):
    """K-fold cross-validation over whole trajectories.

    Each fold tests whole trajectories of a list and trains on the others, so no
    time-lagged pair spans training and test data. Unlike
    :class:`~sklearn.model_selection.KFold`, the number of folds adapts to the
    data: ``min(n_splits, n_trajectories)``, so that the default works for a list
    of four trajectories. A single trajectory (a 2-D array) is refused: its rows
    would be split into folds whose training part has gaps in time; cut it into
    segments with :func:`split_trajectory` first.

    Parameters
    ----------
    n_splits : int, default=5
        Largest number of folds (at least 2).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.model_selection import TrajectoryKFold
    >>> trajs = [np.zeros((100, 2)) for _ in range(3)]
    >>> cv = TrajectoryKFold()
    >>> cv.get_n_splits(trajs)
    3
    >>> [test.tolist() for _, test in cv.split(trajs)]
    [[0], [1], [2]]
    """

    def __init__(self, n_splits=5):
        self.n_splits = n_splits

    def _n_trajectories(self, X):
        check_int(self.n_splits, "n_splits", 2)
        if not isinstance(X, list | tuple):
            raise ValueError(
                "TrajectoryKFold splits a list of trajectories; got "
                f"{type(X).__name__}. Cut one long trajectory into segments with "
                "sklss.model_selection.split_trajectory(X, n_segments) first."
            )
        if len(X) < 2:
            raise ValueError(
                f"TrajectoryKFold needs at least 2 trajectories; got {len(X)}. Cut "
                "a long trajectory into segments with split_trajectory."
            )
        return len(X)

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of folds: ``min(n_splits, len(X))``."""
        if X is None:
            return check_int(self.n_splits, "n_splits", 2)
        return min(self.n_splits, self._n_trajectories(X))

    def _iter_test_indices(self, X=None, y=None, groups=None):
        n = self._n_trajectories(X)
        k = min(self.n_splits, n)
        yield from np.array_split(np.arange(n), k)
