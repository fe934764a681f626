"""Ensembles of simulators fitted on bootstrap resamples of the training data."""

import functools
import inspect
import numbers
import warnings

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import reject_bool_numbers, store_init_params
from ._data import check_trajectories
from ._distributed import limit_threads_in_worker

__all__ = ["SimulatorEnsemble"]


class SimulatorEnsemble(MetaEstimatorMixin, BaseEstimator):
    """Simulators fitted on bootstrap resamples: a model uncertainty for every result.

    A simulator fitted on limited MD data is itself uncertain, and with little data
    that is the dominant error of anything it generates; the spread of block
    averages within one long generated run does not see it. The ensemble fits
    ``n_models`` clones of ``estimator`` on bootstrap resamples of the training
    data and generates from each, so that the spread of an observable between
    models measures how much it depends on the data the model happened to see (see
    :func:`sklss.analysis.ensemble_estimate`).

    Parameters
    ----------
    estimator : estimator or None, default=None
        A :class:`~sklss.LatentSpaceSimulator` (the default) or an
        :class:`~sklss.MDNPropagator` (for latent-only data such as a
        one-dimensional potential).
    n_models : int, default=10
        Number of models fitted (and results that ``sample`` returns).
    n_repeats : int, default=2
        Models fitted on each bootstrap resample, each with its own seed (so there
        are ``n_models / n_repeats`` resamples). A neural network fitted twice on
        the same data differs by its training randomness; repeats let
        :func:`~sklss.analysis.ensemble_estimate` (with ``groups=groups_``) tell that
        part, which averaging over the models removes, from the uncertainty due to
        the data, which it does not. With ``n_repeats=1`` every model has its own
        resample and the interval is wider than it needs to be.
    resample : {"trajectories", "blocks"}, default="trajectories"
        What is resampled with replacement: whole trajectories (needs at least two),
        or contiguous blocks of the trajectories (``n_blocks`` per trajectory; use
        this for one long trajectory). Either way every resampled piece is passed
        as a separate trajectory, so no time-lagged pair spans a cut.
    n_blocks : int or None, default=None
        Blocks per trajectory for ``resample="blocks"`` (None: 10). Each block must
        be longer than the lag times of the estimator. Ignored otherwise.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling and the models.
    n_jobs : int or None, default=None
        Models fitted (and sampled) in parallel with joblib; ``-1`` uses all
        cores. Inside each worker, torch uses that worker's share of the cores.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted models.
    pieces_ : ndarray of shape (n_pieces, 3)
        The pieces resampling draws from: ``(trajectory, start, stop)`` frames.
    resampled_pieces_ : ndarray of shape (n_models, n_pieces)
        For each model, the indices into ``pieces_`` it was fitted on.
    groups_ : ndarray of shape (n_models,)
        The resample each model was fitted on (models with the same value saw the
        same data): pass it as ``groups`` to
        :func:`~sklss.analysis.ensemble_estimate`.
    start_frames_ : ndarray of shape (n_start, n_features)
        Training frames that ``sample`` starts from (the same for every model, so
        that differences between the models' results are differences between
        models).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklss import MDNPropagator, SimulatorEnsemble
    >>> X = np.random.default_rng(0).normal(size=(600, 1)).cumsum(axis=0) / 10
    >>> ens = SimulatorEnsemble(
    ...     MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2),
    ...     n_models=4, resample="blocks", n_blocks=4, random_state=0).fit(X)
    >>> runs = ens.sample(X[0], 50, random_state=0)   # MDNPropagator.sample's form
    >>> len(runs), runs[0].shape, ens.groups_
    (4, (51, 1), array([0, 0, 1, 1]))
    """

    _parameter_constraints = {
        "estimator": [None, HasMethods(["fit", "sample"])],
        "n_models": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_repeats": [Interval(numbers.Integral, 1, None, closed="left")],
        "resample": [StrOptions({"trajectories", "blocks"})],
        "n_blocks": [None, Interval(numbers.Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [None, numbers.Integral],
    }

    def __init__(
        self,
        estimator=None,
        *,
        n_models=10,
        n_repeats=2,
        resample="trajectories",
        n_blocks=None,
        random_state=None,
        n_jobs=None,
    ):
        store_init_params(self, locals())

    def _estimator(self):
        if self.estimator is None:
            from ._simulator import LatentSpaceSimulator

            return LatentSpaceSimulator()
        return self.estimator

    def _pieces(self, lengths):
        if self.resample == "trajectories":
            if len(lengths) < 2:
                raise ValueError(
                    "resample='trajectories' draws whole trajectories with "
                    f"replacement and needs at least two; X holds {len(lengths)}. "
                    "Use resample='blocks' for one long trajectory."
                )
            return np.array([(i, 0, n) for i, n in enumerate(lengths)], dtype=np.int64)
        k = 10 if self.n_blocks is None else self.n_blocks
        pieces = []
        for i, n in enumerate(lengths):
            if n < 2 * k:
                raise ValueError(
                    f"n_blocks={k}: trajectory {i} has {n} frames (n_samples = {n}), "
                    f"too few for {k} blocks of at least 2 frames."
                )
            edges = np.linspace(0, n, k + 1).round().astype(np.int64)
            pieces += [(i, a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        return np.array(pieces, dtype=np.int64)

    def fit(self, X, y=None):
        """Fit ``n_models`` clones on bootstrap resamples of the trajectories.

        Parameters
        ----------
        X : ndarray of shape (n_frames, n_features) or list of such
            Training trajectories (the estimator's ``X``).
        y : same structure as X, mdtraj.Trajectory, list of those, or None
            The estimator's ``y`` (decoder targets), resampled with ``X``.

        Returns
        -------
        self : SimulatorEnsemble

        Raises
        ------
        ValueError
            Invalid parameters or data, or a resample the estimator refuses (for
            instance blocks shorter than its lag time). A failed fit leaves the
            ensemble as it was.
        """
        self._validate_params()
        reject_bool_numbers(self)
        if self.n_models % self.n_repeats or self.n_models // self.n_repeats < 2:
            raise ValueError(
                "n_models must be a multiple of n_repeats with at least two "
                f"resamples; got n_models={self.n_models}, n_repeats={self.n_repeats}."
            )
        estimator = self._estimator()
        trajs = check_trajectories(None, X, reset=True, n_features_attr=None)
        ys = None
        if y is not None:
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            if [len(t) for t in ys] != trajs.lengths:
                raise ValueError(
                    "y must have the same structure as X: got frame counts "
                    f"{trajs.lengths} for X and {[len(t) for t in ys]} for y."
                )
        pieces = self._pieces(trajs.lengths)
        rng = check_random_state(self.random_state)
        n_resamples = self.n_models // self.n_repeats
        groups = np.repeat(np.arange(n_resamples), self.n_repeats)
        draws = rng.randint(0, len(pieces), size=(n_resamples, len(pieces)))[groups]
        seeds = rng.randint(0, 2**31 - 1, size=self.n_models)
        has_seed = "random_state" in estimator.get_params(deep=False)

        def resampled(index):
            chosen = [pieces[j] for j in draws[index]]
            Xb = [trajs[i][a:b] for i, a, b in chosen]
            yb = None if ys is None else [ys[i][a:b] for i, a, b in chosen]
            model = clone(estimator)
            if has_seed:
                model.set_params(random_state=int(seeds[index]))
            return model, Xb, yb

        jobs = (resampled(i) for i in range(self.n_models))
        models = _rewarn(
            Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_one)(model, Xb, yb) for model, Xb, yb in jobs
            )
        )
        all_frames = trajs.concatenate()
        n_keep = min(10_000, len(all_frames))
        keep = np.sort(rng.choice(len(all_frames), size=n_keep, replace=False))
        self.estimators_ = models
        self.pieces_ = pieces
        self.resampled_pieces_ = draws
        self.groups_ = groups
        self.start_frames_ = np.array(all_frames[keep])
        self.n_features_in_ = trajs.n_features
        return self

    def sample(self, *args, random_state=None, **kwargs):
        """Generate from every model, from the same starting points.

        Takes the arguments of the estimator's own ``sample``. For a
        :class:`~sklss.LatentSpaceSimulator` without ``start``, the start frames
        are drawn once from ``start_frames_`` (training features) and encoded by
        each model, so every model starts from the same configurations.

        Parameters
        ----------
        *args, **kwargs
            Passed to each model's ``sample``.
        random_state : int, RandomState instance or None, default=None
            Makes the results reproducible; each model gets its own seed.

        Returns
        -------
        list
            One result per model, in the order of ``estimators_``.
        """
        check_is_fitted(self)
        rng = check_random_state(random_state)
        params = inspect.signature(self.estimators_[0].sample).parameters
        if "start_space" in params and kwargs.get("start") is None:
            # LatentSpaceSimulator.sample(n_steps, n_trajectories=1, start=None, ...)
            bound = inspect.signature(self.estimators_[0].sample).bind_partial(
                *args, **kwargs
            )
            n_traj = bound.arguments.get("n_trajectories", 1)
            if bound.arguments.get("start") is None:
                idx = rng.randint(0, len(self.start_frames_), size=n_traj)
                bound.arguments["start"] = self.start_frames_[idx]
                bound.arguments["start_space"] = "features"
            args, kwargs = bound.args, bound.kwargs
        seeds = rng.randint(0, 2**31 - 1, size=len(self.estimators_))
        return _rewarn(
            Parallel(n_jobs=self.n_jobs)(
                delayed(_sample_one)(model, args, kwargs, int(seed))
                for model, seed in zip(self.estimators_, seeds, strict=True)
            )
        )

    @available_if(lambda self: hasattr(self._estimator(), "score"))
    def score(self, X, y=None):
        """Mean of the models' scores on held-out data (higher is better).

        Parameters
        ----------
        X, y
            Held-out data, as for the estimator's own ``score``.

        Returns
        -------
        float
        """
        check_is_fitted(self)
        return float(np.mean([m.score(X, y) for m in self.estimators_]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _recording(func):
    """Run ``func`` and return its result with the warnings it raised.

    Worker processes would print their warnings where the caller's filters do not
    apply; recorded, they are raised again in the caller (see ``_rewarn``).
    """

    @functools.wraps(func)
    def wrapper(*args):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = func(*args)
        return result, [(str(w.message), w.category) for w in caught]

    return wrapper


def _rewarn(outputs):
    """Results of ``_recording`` tasks; each distinct warning raised here once,
    naming the models that raised it."""
    models = {}
    for index, (_, caught) in enumerate(outputs):
        for key in caught:
            models.setdefault(key, []).append(index)
    for (message, category), which in models.items():
        label = "model" if len(which) == 1 else "models"
        names = ", ".join(str(i) for i in sorted(set(which)))
        warnings.warn(f"{label} {names}: {message}", category, stacklevel=3)
    return [result for result, _ in outputs]


@_recording
def _fit_one(model, X, y):
    limit_threads_in_worker()
    return model.fit(X) if y is None else model.fit(X, y)


@_recording
def _sample_one(model, args, kwargs, seed):
    limit_threads_in_worker()
    return model.sample(*args, random_state=seed, **kwargs)
