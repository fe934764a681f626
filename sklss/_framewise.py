"""Frame-wise scikit-learn transformers and feature unions for lists of
trajectories."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.pipeline import FeatureUnion as _SklearnFeatureUnion
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from ._base import check_component
from ._data import check_output_container, check_trajectories, mirror
from ._store import LazyTrajectory, check_finite_chunk, is_lazy

# Frames per partial_fit call when a feature store is streamed through FrameWise.
_STREAM_BATCH = 8192

__all__ = ["FeatureUnion", "FrameWise"]


class FrameWise(TransformerMixin, BaseEstimator):
    """Make a frame-wise transformer accept one trajectory or a list of them.

    scikit-learn transformers such as :class:`~sklearn.preprocessing.StandardScaler`
    or :class:`~sklearn.decomposition.PCA` treat rows independently but only accept one
    2-D array. ``FrameWise`` fits a clone on all frames of all trajectories together
    and transforms each trajectory separately, so that a list in gives a list out and
    the trajectory boundaries survive for the time-lagged steps that follow in a
    :class:`~sklearn.pipeline.Pipeline`.

    Trajectories of a feature store (:func:`open_feature_store`) are streamed: a
    transformer with ``partial_fit`` (:class:`~sklearn.preprocessing.StandardScaler`,
    :class:`~sklearn.decomposition.IncrementalPCA`, ...), or a
    :class:`~sklearn.pipeline.Pipeline` of such steps, is fitted batch by batch
    and ``transform`` reads the store in chunks, so the features are never loaded
    whole. Any other transformer is fitted on all frames read into memory.

    Parameters
    ----------
    transformer : estimator
        A transformer whose ``fit`` and ``transform`` act frame by frame (no time
        structure): scalers, PCA, feature selection, ...

    Attributes
    ----------
    transformer_ : estimator
        The fitted clone.
    n_features_in_ : int
        Number of features per frame.
    n_features_out_ : int
        Number of features per transformed frame (the width
        :meth:`inverse_transform` expects).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklss import FrameWise
    >>> trajs = [np.random.rand(100, 3), np.random.rand(50, 3)]
    >>> out = FrameWise(StandardScaler()).fit_transform(trajs)
    >>> [o.shape for o in out]
    [(100, 3), (50, 3)]
    """

    def __init__(self, transformer):
        self.transformer = transformer

    def fit(self, X, y=None):
        """Fit the transformer on the frames of all trajectories in ``X``.

        Parameters
        ----------
        X : ndarray of shape (n_frames, n_features) or list of such
        y : None
            Ignored.

        Returns
        -------
        self : FrameWise

        Raises
        ------
        TypeError
            ``transformer`` is not an estimator instance with ``fit`` and
            ``transform``, or ``X`` is not array-like.
        ValueError
            ``X`` is invalid (see :func:`sklss._data.check_trajectories`).
        """
        check_component(self.transformer, "transformer", ("fit", "transform"))
        trajs = check_trajectories(self, X, reset=True)
        transformer = clone(self.transformer)
        steps = _streamable_steps(transformer) if is_lazy(trajs) else None
        if steps is None:
            transformer.fit(trajs.concatenate())
        else:
            _stream_fit(steps, trajs)
        self.transformer_ = transformer
        self.n_features_out_ = np.shape(transformer.transform(trajs[0][:1]))[1]
        return self

    def transform(self, X):
        """Transform each trajectory; a list in gives a list out.

        Parameters
        ----------
        X : ndarray of shape (n_frames, n_features) or list of such

        Returns
        -------
        ndarray of shape (n_frames, n_features_out) or list of such

        Raises
        ------
        TypeError
            ``X`` is not array-like or holds non-numbers.
        ValueError
            ``X`` is invalid or of another width than in :meth:`fit`, or the
            transformer maps it to non-finite values.
        """
        check_is_fitted(self)
        trajs = check_trajectories(self, X, reset=False)
        check_output_container(self, trajs.is_list)
        return self._apply("transform", trajs)

    def inverse_transform(self, X):
        """Inverse transform each trajectory (if the transformer supports it).

        Parameters
        ----------
        X : ndarray of shape (n_frames, n_features_out) or list of such

        Returns
        -------
        ndarray of shape (n_frames, n_features) or list of such

        Raises
        ------
        TypeError
            ``X`` is not array-like or holds non-numbers.
        ValueError
            ``X`` is invalid or not ``n_features_out_`` wide, or the transformer
            maps it back to non-finite values.
        """
        check_is_fitted(self)
        trajs = check_trajectories(
            self,
            X,
            reset=False,
            n_features_attr="n_features_out_"
            if hasattr(self, "n_features_out_")
            else None,
        )
        return self._apply("inverse_transform", trajs)

    def _apply(self, method, trajs):
        """``transformer_.<method>`` on every trajectory; non-finite results refused."""
        # Overflow is reported below, as an error naming X.
        apply = getattr(self.transformer_, method)
        with np.errstate(over="ignore", invalid="ignore"):
            out = [
                np.concatenate([np.asarray(apply(x)) for _, x in t.iter_chunks()])
                if isinstance(t, LazyTrajectory)
                else np.asarray(apply(t))
                for t in trajs
            ]
        for i, o in enumerate(out):
            if o.dtype.kind in "fc" and not np.all(np.isfinite(o)):
                where = f"X[{i}]" if trajs.is_list else "X"
                raise ValueError(
                    f"{type(self.transformer_).__name__}.{method} maps {where} to "
                    "non-finite values: X lies beyond the range the transformer "
                    "can represent."
                )
        return mirror(out, trajs)

    def get_feature_names_out(self, input_features=None):
        """Feature names of the wrapped transformer."""
        check_is_fitted(self)
        return self.transformer_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.transformer)
        tags.input_tags.sparse = False
        tags.transformer_tags.preserves_dtype = list(
            inner.transformer_tags.preserves_dtype
            if inner.transformer_tags is not None
            else ["float64"]
        )
        return tags


def _streamable_steps(transformer):
    """The transformer's steps when every one has ``partial_fit`` (a Pipeline's
    steps in order, or the transformer alone); None otherwise."""
    from sklearn.pipeline import Pipeline

    if isinstance(transformer, Pipeline):
        steps = [s for _, s in transformer.steps if s not in (None, "passthrough")]
    else:
        steps = [transformer]
    if steps and all(hasattr(s, "partial_fit") for s in steps):
        return steps
    return None


def _frame_batches(trajs):
    """All frames of the trajectories in batches of ``_STREAM_BATCH`` (the last
    one holds the remainder too, so no batch is tiny), checked to be finite."""
    pending, n_pending = [], 0
    for i, t in enumerate(trajs):
        label = f"X[{i}]" if trajs.is_list else "X"
        chunks = t.iter_chunks() if isinstance(t, LazyTrajectory) else [(0, t)]
        for start, x in chunks:
            check_finite_chunk(x, label, start)
            pending.append(x)
            n_pending += len(x)
            while n_pending >= 2 * _STREAM_BATCH:
                frames = np.concatenate(pending)
                yield frames[:_STREAM_BATCH]
                pending, n_pending = [frames[_STREAM_BATCH:]], n_pending - _STREAM_BATCH
    if n_pending:
        yield np.concatenate(pending)


def _stream_fit(steps, trajs):
    """Fit each step by ``partial_fit`` over all frames, each step on the output
    of the steps before it (one pass over the data per step)."""
    for k, step in enumerate(steps):
        for frames in _frame_batches(trajs):
            for done in steps[:k]:
                frames = done.transform(frames)
            step.partial_fit(frames)


class FeatureUnion(_SklearnFeatureUnion):
    """scikit-learn's :class:`~sklearn.pipeline.FeatureUnion` for lists of
    trajectories: the features of several featurisers side by side.

    scikit-learn's union stacks its transformers' outputs as arrays, which fails
    (or mixes trajectories up) when each output is a list of trajectories. This
    union fits every transformer on the whole list and then transforms each
    trajectory on its own, so a list in gives a list out, one array per
    trajectory; one trajectory in gives one array out, as before. Everything
    else (``transformer_weights``, ``n_jobs``, ``get_feature_names_out``,
    ``set_params`` of nested transformers) is scikit-learn's.

    Parameters
    ----------
    transformer_list : list of (str, transformer) tuples
        As for :class:`sklearn.pipeline.FeatureUnion`.
    **kwargs
        Any other parameter of :class:`sklearn.pipeline.FeatureUnion`.

    Examples
    --------
    >>> from sklss import DistanceFeaturizer, FeatureUnion, TorsionFeaturizer
    >>> union = FeatureUnion([
    ...     ("torsions", TorsionFeaturizer(angles=("phi", "psi"))),
    ...     ("distances", DistanceFeaturizer("name CA")),
    ... ])
    >>> # union.fit_transform([traj_a, traj_b]) -> [features_a, features_b]
    """

    def fit_transform(self, X, y=None, **params):
        """Fit every transformer on ``X``, then transform ``X``."""
        if not _is_trajectories(X):
            return super().fit_transform(X, y, **params)
        return self.fit(X, y, **params).transform(X)

    def transform(self, X, **params):
        """The transformers' features side by side, per trajectory for a list."""
        if not _is_trajectories(X):
            return super().transform(X, **params)
        check_output_container(self, True)
        return [super(FeatureUnion, self).transform(x, **params) for x in X]


def _is_trajectories(X):
    """Whether ``X`` is a list of trajectories (mdtraj trajectories or 2-D
    arrays), not one 2-D array given as nested lists."""
    if not isinstance(X, list | tuple):
        return False
    if len(X) == 0:
        raise ValueError(
            "X is an empty list; expected a trajectory or a list of trajectories."
        )
    return all(
        getattr(x, "ndim", None) == 2 or hasattr(x, "xyz") and hasattr(x, "topology")
        for x in X
    )
