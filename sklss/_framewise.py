"""Apply a frame-wise scikit-learn transformer to lists of trajectories."""

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

from ._data import check_trajectories, mirror

__all__ = ["FrameWise"]


class FrameWise(TransformerMixin, BaseEstimator):
    """Make a frame-wise transformer accept one trajectory or a list of them.

    scikit-learn transformers such as :class:`~sklearn.preprocessing.StandardScaler`
    or :class:`~sklearn.decomposition.PCA` treat rows independently but only accept one
    2-D array. ``FrameWise`` fits a clone on all frames of all trajectories together
    and transforms each trajectory separately, so that a list in gives a list out and
    the trajectory boundaries survive for the time-lagged steps that follow in a
    :class:`~sklearn.pipeline.Pipeline`.

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
        """
        trajs = check_trajectories(self, X, reset=True)
        self.transformer_ = clone(self.transformer).fit(trajs.concatenate())
        return self

    def transform(self, X):
        """Transform each trajectory; a list in gives a list out.

        Parameters
        ----------
        X : ndarray of shape (n_frames, n_features) or list of such

        Returns
        -------
        ndarray of shape (n_frames, n_features_out) or list of such
        """
        check_is_fitted(self)
        trajs = check_trajectories(self, X, reset=False)
        out = [np.asarray(self.transformer_.transform(t)) for t in trajs]
        return mirror(out, trajs)

    def inverse_transform(self, X):
        """Inverse transform each trajectory (if the transformer supports it)."""
        check_is_fitted(self)
        trajs = check_trajectories(self, X, reset=False, n_features_attr=None)
        out = [np.asarray(self.transformer_.inverse_transform(t)) for t in trajs]
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
