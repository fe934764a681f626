"""Model uncertainty of generated observables, from ensembles of simulators."""

import numpy as np
from scipy import stats
from sklearn.utils import Bunch

from .._data import check_int
from ._common import _blocks, _check_column, _standard_error, _trajectories

__all__ = ["ensemble_estimate", "populations"]


def _pieces(sample, name):
    """One model's output as a list of trajectories (sliceable along time)."""
    try:
        import mdtraj
    except ImportError:  # pragma: no cover - mdtraj is a dependency
        mdtraj = None
    if mdtraj is not None and isinstance(sample, mdtraj.Trajectory):
        return [sample]
    if isinstance(sample, (list, tuple)):
        if len(sample) == 0:
            raise ValueError(f"{name} is empty; expected trajectories.")
        return list(sample)
    arr = np.asarray(sample)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold numeric trajectories; got dtype {arr.dtype} "
            f"({type(sample).__name__})."
        )
    if arr.ndim == 3:
        return list(arr)
    if arr.ndim == 2:
        return [arr]
    if arr.ndim == 1:
        return [arr[:, None]]
    raise ValueError(
        f"{name} must be a trajectory (n_frames, n_features), a stack of them "
        f"(n_trajectories, n_frames, n_features) or a list; got shape {arr.shape}."
    )


def _evaluate(observable, pieces, shape, where):
    value = np.asarray(observable(pieces), dtype=np.float64)
    if shape is not None and value.shape != shape:
        raise ValueError(
            f"observable returned shape {value.shape} for {where}, but {shape} "
            "before; it must return the same shape for every input."
        )
    return value


def ensemble_estimate(observable, samples, *, groups=None, level=0.9, n_blocks=5):
    """An observable of generated trajectories with its model uncertainty.

    ``samples`` holds what each model of a :class:`~sklss.SimulatorEnsemble`
    generated. The observable is computed on each model's output, and the estimate
    is the mean over models. Its error has three sources, which are reported
    separately so that one can see which dominates and where more effort pays off:

    - the *data* the models were fitted on (the bootstrap resamples differ as
      independent MD data sets would): this part does not average out over models;
    - the *training* randomness (initialisation, minibatch order): models fitted
      on the same resample with different seeds differ by it; it averages out;
    - the *sampling* error of each model's finite generated run (block standard
      error within one model's output, ``n_blocks`` contiguous blocks, as in the
      paper's error bars); it averages out too.

    With ``groups`` (``SimulatorEnsemble.groups_``: models with the same value
    were fitted on the same resample), the variance of the estimate is the
    random-effects decomposition ``data² (1 + 1/k) + within² / n_models``, with
    ``within²`` the pooled variance between models of the same resample (training
    and sampling), ``data² = max(s_g² - within² / r, 0)`` from the variance
    ``s_g²`` of the means of the ``k`` resamples (``r`` models each), and ``1/k``
    for averaging a finite number of resamples. The interval is
    ``value ± t · standard_error`` with Student's quantile at Satterthwaite's
    degrees of freedom. Without ``groups`` (every model its own resample) the two
    cannot be told apart: the interval is ``value ± t(n_models - 1) · s
    sqrt(1 + 1/n_models)``, with ``s`` the standard deviation between models:
    valid, but wider than needed when the training randomness is large.

    Parameters
    ----------
    observable : callable
        ``observable(trajectories) -> float or ndarray``, called with a list of
        trajectories (2-D arrays, or ``mdtraj.Trajectory`` objects when the samples
        are structures); it must return the same shape every time. Examples:
        ``lambda t: populations(t, regions)``,
        ``lambda t: msm_timescales(t, edges, lagtime=10, n_timescales=1)``,
        ``lambda t: free_energy_profile(t, bins=edges).free_energy``.
    samples : list
        One entry per model: an array ``(n_frames, n_features)``, a stack
        ``(n_trajectories, n_frames, n_features)`` (what ``MDNPropagator.sample``
        and ``SimulationResult.latent`` hold), a list of trajectories or an
        ``mdtraj.Trajectory`` (``SimulationResult.to_mdtraj()``).
    groups : array-like of shape (n_models,) or None, default=None
        The training resample of each model (``SimulatorEnsemble.groups_``); at
        least two groups of equal size.
    level : float, default=0.9
        Confidence level of the interval, in (0, 1).
    n_blocks : int, default=5
        Blocks per model output for the sampling error (at least 2).

    Returns
    -------
    result : Bunch
        ``value`` (mean over models), ``low``, ``high`` (the interval), ``level``,
        ``standard_error`` (of ``value``; the interval is
        ``value ± t · standard_error``), ``dof`` (the degrees of freedom of ``t``),
        ``spread`` (standard deviation between models), ``model_error``
        (``sqrt(max(spread² - sampling², 0))``: the between-model part),
        ``data_error`` and ``training_error`` (its two parts, NaN without
        ``groups``), ``sampling_error``, ``per_model`` (n_models, ...),
        ``per_model_sampling_error`` (n_models, ...: each model's own block
        standard error, the paper-style error bar of one run) and ``n_models``.
        Arrays have the observable's shape; NaN where the observable was NaN for a
        model.

    Raises
    ------
    TypeError
        ``observable`` is not callable, or a sample is not numeric.
    ValueError
        Fewer than two samples, ``groups`` of the wrong length, with fewer than
        two groups or groups of unequal size, ``level`` outside (0, 1), a sample
        too short for ``n_blocks`` blocks, or an observable whose shape changes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import ensemble_estimate
    >>> rng = np.random.default_rng(0)
    >>> runs = [rng.normal(loc=0.1 * (k // 2), size=(2000, 1)) for k in range(6)]
    >>> est = ensemble_estimate(lambda t: np.concatenate(t).mean(), runs,
    ...                         groups=[0, 0, 1, 1, 2, 2])
    >>> bool(est.low < est.value < est.high), est.n_models
    (True, 6)
    """
    if not callable(observable):
        raise TypeError(
            f"observable must be a callable taking a list of trajectories; got "
            f"{type(observable).__name__}."
        )
    if not isinstance(samples, (list, tuple)):
        raise TypeError(
            "samples must be a list with one entry per model; got "
            f"{type(samples).__name__}."
        )
    if len(samples) < 2:
        raise ValueError(
            f"samples must hold at least two models' outputs; got {len(samples)}."
        )
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)):
        raise TypeError(f"level must be a float in (0, 1); got {level!r}.")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")
    n_blocks = check_int(n_blocks, "n_blocks", 2)
    members = _check_groups(groups, len(samples))

    per_model, sampling_var, shape = [], [], None
    for m, sample in enumerate(samples):
        pieces = _pieces(sample, f"samples[{m}]")
        value = _evaluate(observable, pieces, shape, f"samples[{m}]")
        shape = value.shape
        block_values = [
            _evaluate(observable, block, shape, f"a block of samples[{m}]")
            for block in _blocks(pieces, n_blocks, min_length=2)
        ]
        per_model.append(value)
        sampling_var.append(_standard_error(block_values) ** 2)
    per_model = np.array(per_model)
    n = len(per_model)
    value = per_model.mean(axis=0)
    spread = per_model.std(axis=0, ddof=1)
    sampling = np.sqrt(np.mean(sampling_var, axis=0))
    model = np.sqrt(np.maximum(spread**2 - sampling**2, 0.0))
    nan = np.full_like(value, np.nan)
    if members is None:
        # Every model its own resample: s² estimates data² + within², and the
        # mean over n resamples adds a 1/n share of it (see _random_effects).
        variance, dof = spread**2 * (1.0 + 1.0 / n), np.full_like(value, n - 1.0)
        data, training = nan, nan
    else:
        variance, dof, data, within = _random_effects(per_model, members)
        training = np.sqrt(np.maximum(within**2 - sampling**2, 0.0))
    se = np.sqrt(variance)
    half = stats.t.ppf(0.5 + float(level) / 2.0, df=dof) * se
    return Bunch(
        value=value,
        low=value - half,
        high=value + half,
        level=float(level),
        standard_error=se,
        dof=dof,
        spread=spread,
        model_error=model,
        data_error=data,
        training_error=training,
        sampling_error=sampling,
        per_model=per_model,
        per_model_sampling_error=np.sqrt(np.array(sampling_var)),
        n_models=n,
    )


def _check_groups(groups, n_models):
    """Indices of the models of each group (equal sizes, at least two groups)."""
    if groups is None:
        return None
    labels = np.asarray(groups)
    if labels.shape != (n_models,):
        raise ValueError(
            f"groups must hold one label per model ({n_models}); got shape "
            f"{labels.shape}."
        )
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(counts) < 2 or counts.min() != counts.max():
        raise ValueError(
            "groups must have at least two groups of equal size; got group sizes "
            f"{counts.tolist()}."
        )
    if counts[0] == 1:
        return None  # one model per resample: nothing to pool
    return [np.flatnonzero(inverse == g) for g in range(len(counts))]


def _random_effects(per_model, members):
    """Variance of the ensemble mean: resample (data) and within-resample parts.

    The mean over ``k`` resamples is the bagged estimate plus the average of ``k``
    resample deviations, hence ``data² (1 + 1/k) + within² / n``. Returns that
    variance, Satterthwaite's degrees of freedom, the data standard deviation and
    the pooled within-resample one.
    """
    n, k, r = len(per_model), len(members), len(members[0])
    by_group = np.stack([per_model[idx] for idx in members])  # (k, r, ...)
    between = by_group.mean(axis=1).var(axis=0, ddof=1)  # E = data² + within² / r
    within = by_group.var(axis=1, ddof=1).mean(axis=0)  # E = within²
    data = np.maximum(between - within / r, 0.0)
    inflate = 1.0 + 1.0 / k
    variance = inflate * data + within / n
    # Satterthwaite for a * between - c * within (within / n alone when clipped).
    c = inflate / r - 1.0 / n
    df_b, df_w = k - 1.0, n - k
    with np.errstate(divide="ignore", invalid="ignore"):
        dof = np.where(
            data > 0,
            variance**2 / ((inflate * between) ** 2 / df_b + (c * within) ** 2 / df_w),
            df_w,
        )
    dof = np.where(np.isfinite(dof), np.maximum(dof, 1.0), df_b)
    return variance, dof, np.sqrt(data), np.sqrt(within)


def populations(X, regions, *, coordinate=0):
    """Fractions of frames in regions along one coordinate.

    Parameters
    ----------
    X : array-like of shape (n_frames, n_features) or list of such
        Trajectories.
    regions : sequence of (float, float)
        ``(low, high)`` intervals along ``coordinate`` (half-open, ``low <= x <
        high``); they may leave gaps but should not overlap.
    coordinate : int, default=0
        Column of ``X``.

    Returns
    -------
    ndarray of shape (n_regions,)
        The fraction of all frames in each region.

    Raises
    ------
    ValueError
        ``regions`` is empty or holds an interval with ``low >= high`` or
        non-finite ends; ``X`` is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import populations
    >>> x = np.linspace(-1, 1, 1000)[:, None]
    >>> populations(x, [(-1, 0), (0, 0.5)]).round(2)
    array([0.5 , 0.25])
    """
    trajs, _ = _trajectories(X, "X")
    coordinate = _check_column(trajs, coordinate, "X")
    try:
        bounds = np.array(regions, dtype=np.float64)
    except (TypeError, ValueError):
        bounds = None
    if bounds is None or bounds.ndim != 2 or bounds.shape[1] != 2 or not len(bounds):
        raise ValueError(
            "regions must be a non-empty sequence of (low, high) pairs; got "
            f"{regions!r}."
        )
    if not np.all(np.isfinite(bounds)) or np.any(bounds[:, 0] >= bounds[:, 1]):
        raise ValueError(
            f"regions must have finite ends with low < high; got {bounds.tolist()}."
        )
    x = np.concatenate([t[:, coordinate] for t in trajs])
    inside = (x[None, :] >= bounds[:, :1]) & (x[None, :] < bounds[:, 1:])
    return inside.mean(axis=1)
