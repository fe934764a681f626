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


def ensemble_estimate(observable, samples, *, level=0.9, n_blocks=5):
    """An observable of generated trajectories with its model uncertainty.

    ``samples`` holds what each model of a :class:`~sklss.SimulatorEnsemble`
    generated. The observable is computed on each model's output; the models were
    fitted on bootstrap resamples of the training data, so the spread of their
    values is the uncertainty that comes from the limited training data (plus the
    finite length of each generated run). The interval is
    ``mean ± t(level, n_models - 1) · s``, with ``s`` the standard deviation between
    models and ``t`` Student's quantile.

    The spread is also split into its two parts, so that one can see which
    dominates and where more effort pays off: the *sampling* error is the block
    standard error within one model's output (``n_blocks`` contiguous blocks, as
    in the paper's error bars), root-mean-square over models; the *model* error is
    what remains of the between-model spread, ``sqrt(max(s² - sampling², 0))``.
    Generating longer runs shrinks the first, more or better training data the
    second.

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
    level : float, default=0.9
        Confidence level of the interval, in (0, 1).
    n_blocks : int, default=5
        Blocks per model output for the sampling error (at least 2).

    Returns
    -------
    result : Bunch
        ``value`` (mean over models), ``low``, ``high`` (the interval), ``level``,
        ``spread`` (standard deviation between models), ``model_error``,
        ``sampling_error``, ``per_model`` (n_models, ...), ``per_model_sampling_error``
        (n_models, ...: each model's own block standard error, the paper-style
        error bar of one run) and ``n_models``. Arrays
        have the observable's shape; NaN where the observable was NaN for a model.

    Raises
    ------
    TypeError
        ``observable`` is not callable, or a sample is not numeric.
    ValueError
        Fewer than two samples, ``level`` outside (0, 1), a sample too short for
        ``n_blocks`` blocks, or an observable whose shape changes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import ensemble_estimate
    >>> rng = np.random.default_rng(0)
    >>> runs = [rng.normal(loc=0.1 * k, size=(2000, 1)) for k in range(5)]
    >>> est = ensemble_estimate(lambda t: np.concatenate(t).mean(), runs)
    >>> bool(est.low < est.value < est.high), est.n_models
    (True, 5)
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
    half = stats.t.ppf(0.5 + float(level) / 2.0, df=n - 1) * spread
    return Bunch(
        value=value,
        low=value - half,
        high=value + half,
        level=float(level),
        spread=spread,
        model_error=model,
        sampling_error=sampling,
        per_model=per_model,
        per_model_sampling_error=np.sqrt(np.array(sampling_var)),
        n_models=n,
    )


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
