"""The data model shared by every sklss estimator.

A *trajectory* is a 2-D array ``(n_frames, n_features)`` of equally spaced frames.
Every estimator accepts one trajectory or a list/tuple of trajectories; outputs mirror
inputs. Time-lagged pairs are built within trajectories, never across them. All
estimators go through :func:`check_trajectories` and :func:`lagged_pairs`; none
re-implements them.
"""

import numbers
import warnings

import numpy as np
from sklearn.utils.validation import (
    _check_feature_names,
    _get_feature_names,
    check_array,
)

__all__ = [
    "Trajectories",
    "check_bin_edges",
    "check_trajectories",
    "check_int",
    "check_lagtime",
    "lagged_pairs",
    "mirror",
]

FLOAT_DTYPES = (np.float64, np.float32)


class Trajectories(list):
    """A validated list of trajectories that remembers how it was given.

    Attributes
    ----------
    is_list : bool
        True when the user passed a list/tuple of trajectories, False for one array.
    feature_names : ndarray of str or None
        Column names of the first trajectory when it had string column names (a
        DataFrame), else None.
    """

    def __init__(self, arrays, *, is_list, feature_names=None):
        super().__init__(arrays)
        self.is_list = is_list
        self.feature_names = feature_names

    @property
    def n_features(self):
        return self[0].shape[1]

    @property
    def lengths(self):
        return [len(t) for t in self]

    @property
    def n_frames(self):
        return sum(len(t) for t in self)

    def concatenate(self, dtype=None):
        """All frames in one array (only for frame-wise work, never for pairs)."""
        out = np.concatenate(list(self), axis=0) if len(self) > 1 else self[0]
        return out if dtype is None else out.astype(dtype, copy=False)


def _is_trajectory_list(X, name):
    """Apply the rule: a list/tuple of 2-D arrays is several trajectories.

    Anything else array-like is one 2-D array (so scikit-learn's own checks, which pass
    lists of lists, keep working).
    """
    if not isinstance(X, (list, tuple)):
        return False
    if len(X) == 0:
        raise ValueError(
            f"{name} is an empty {type(X).__name__}; expected a 2-D array of shape "
            "(n_frames, n_features) or a non-empty list of such arrays."
        )
    ndims = [getattr(x, "ndim", None) for x in X]
    if all(d == 2 for d in ndims):
        return True
    if any(d == 2 for d in ndims):
        bad = next(i for i, d in enumerate(ndims) if d != 2)
        raise TypeError(
            f"{name} mixes 2-D arrays with other elements; a list of trajectories "
            "must contain only 2-D arrays of shape (n_frames, n_features), but element "
            f"{bad} "
            f"is a {type(X[bad]).__name__} with ndim={ndims[bad]}."
        )
    if any(d is not None and d >= 3 for d in ndims):
        bad = next(i for i, d in enumerate(ndims) if d is not None and d >= 3)
        raise ValueError(
            f"{name} contains an array of ndim={ndims[bad]} at position {bad}; a list "
            "of trajectories must contain 2-D arrays of shape (n_frames, n_features)."
        )
    return False


def _check_ndim(X, name):
    if hasattr(X, "ndim") and hasattr(X, "shape"):
        ndim, shape = X.ndim, tuple(X.shape)
    elif hasattr(X, "__array__"):
        arr = np.asarray(X)
        ndim, shape = arr.ndim, arr.shape
    else:
        return  # lists of lists, sparse matrices...: check_array decides
    if ndim == 1:
        raise ValueError(
            f"Expected 2D array, got 1D array instead: {name} has shape "
            f"{shape}; expected (n_frames, n_features). Reshape your data with "
            f"{name}.reshape(-1, 1) if it holds a single feature."
        )
    if ndim >= 3:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_frames, n_features) or a list of "
            f"such arrays; got an array of shape {shape}. For several "
            f"trajectories of equal length, pass list({name})."
        )


def _check_one(estimator, X, *, name, reset, check_features, dtype):
    _check_ndim(X, name)
    if check_features and estimator is not None:
        _check_feature_names(estimator, X, reset=reset)
    return check_array(
        X,
        dtype=dtype,
        ensure_all_finite=True,
        ensure_2d=True,
        ensure_min_samples=1,
        input_name=name,
    )


def check_trajectories(
    estimator,
    X,
    *,
    reset,
    name="X",
    n_features_attr="n_features_in_",
    dtype=FLOAT_DTYPES,
):
    """Validate one trajectory or a list of trajectories.

    Parameters
    ----------
    estimator : estimator instance or None
        Stores ``n_features_attr`` when ``reset`` is true and is checked against it
        otherwise. ``None`` validates the arrays only.
    X : array-like of shape (n_frames, n_features) or list of such
        The user's data. It is never modified: arrays are converted (copied) only when
        their dtype is not float32/float64.
    reset : bool
        True in ``fit`` (store the number of features), False afterwards (check it).
    name : str, default="X"
        The argument's name, used in every error message.
    n_features_attr : str or None, default="n_features_in_"
        Attribute of ``estimator`` that holds the expected width. ``None`` skips the
        width bookkeeping (the caller checks widths itself).
    dtype : type, tuple of types or None
        Accepted dtypes; float32 and float64 are kept, anything else becomes float64.

    Returns
    -------
    Trajectories
        A list of 2-D arrays with ``is_list`` telling whether a list was given.
    """
    is_list = _is_trajectory_list(X, name)
    items = list(X) if is_list else [X]
    feature_names = _get_feature_names(items[0]) if reset else None
    arrays = []
    for i, x in enumerate(items):
        label = f"{name}[{i}]" if is_list else name
        arrays.append(
            _check_one(
                estimator,
                x,
                name=label,
                reset=reset and i == 0,
                check_features=n_features_attr == "n_features_in_",
                dtype=dtype,
            )
        )
    widths = [a.shape[1] for a in arrays]
    if len(set(widths)) > 1:
        raise ValueError(
            f"All trajectories in {name} must have the same number of features; got "
            f"widths {widths}."
        )
    if estimator is not None and n_features_attr is not None:
        if reset:
            setattr(estimator, n_features_attr, widths[0])
        else:
            expected = getattr(estimator, n_features_attr)
            if widths[0] != expected:
                raise ValueError(
                    f"{name} has {widths[0]} features, but "
                    f"{type(estimator).__name__} is expecting {expected} features as "
                    "input."
                )
    return Trajectories(arrays, is_list=is_list, feature_names=feature_names)


def check_int(value, name, minimum=None):
    """Return ``value`` as an int, or raise an error that names the argument.

    ``TypeError`` when it is not an integer (``bool`` is not accepted),
    ``ValueError`` when it is below ``minimum``.
    """
    bound = "" if minimum is None else f" >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an int{bound}; got {value!r} of type "
            f"{type(value).__name__}."
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int{bound}; got {value}.")
    return int(value)


def check_lagtime(lagtime, name="lagtime"):
    """Return ``lagtime`` (in frames) as a positive int or raise a clear error."""
    return check_int(lagtime, name, 1)


def lagged_pairs(trajectories, lagtime, *, name="X", estimator_name=None):
    """Time-lagged pairs ``(x_t, x_{t+lagtime})`` built within each trajectory.

    Trajectories shorter than ``lagtime + 1`` frames are skipped with a warning; if none
    is left, a ``ValueError`` is raised. No pair spans two trajectories.

    Parameters
    ----------
    trajectories : list of ndarray of shape (n_frames_i, n_features)
    lagtime : int
        Lag in frames.

    Returns
    -------
    X0, X1 : ndarray of shape (n_pairs, n_features)
        Frames ``t`` and ``t + lagtime`` of every pair, in the dtype of the first
        trajectory (float32 stays float32).
    """
    lagtime = check_lagtime(lagtime)
    who = f"{estimator_name}: " if estimator_name else ""
    lengths = [len(t) for t in trajectories]
    usable = [t for t in trajectories if len(t) > lagtime]
    skipped = len(trajectories) - len(usable)
    if not usable:
        n = sum(lengths)
        raise ValueError(
            f"{who}{name} has no trajectory with at least lagtime + 1 = {lagtime + 1} "
            f"frames (trajectory lengths {lengths}, n_samples = {n}); time-lagged "
            "pairs cannot be formed. Provide longer trajectories or a smaller lagtime."
        )
    if skipped:
        warnings.warn(
            f"{who}{skipped} of {len(trajectories)} trajectories in {name} are shorter "
            f"than lagtime + 1 = {lagtime + 1} frames and were skipped.",
            UserWarning,
            stacklevel=3,
        )
    dtype = np.result_type(*[t.dtype for t in usable])
    X0 = np.concatenate([t[:-lagtime] for t in usable], axis=0).astype(
        dtype, copy=False
    )
    X1 = np.concatenate([t[lagtime:] for t in usable], axis=0).astype(dtype, copy=False)
    return X0, X1


def mirror(outputs, trajectories):
    """Return ``outputs`` (one array per input trajectory) in the shape of the input.

    A list in gives a list out, one array in gives one array out.
    """
    return list(outputs) if trajectories.is_list else outputs[0]


def check_bin_edges(edges, name):
    """Return ``edges`` as a float64 array of strictly increasing, finite bin edges."""
    edges = np.asarray(edges, dtype=np.float64)
    if (
        edges.ndim != 1
        or len(edges) < 2
        or not np.all(np.isfinite(edges))
        or np.any(np.diff(edges) <= 0)
    ):
        raise ValueError(
            f"{name} must be a 1-D array of at least two finite, strictly increasing "
            f"bin edges; got {edges!r}."
        )
    return edges
