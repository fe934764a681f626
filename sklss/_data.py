"""The data model shared by every sklss estimator.

A *trajectory* is a 2-D array ``(n_frames, n_features)`` of equally spaced frames.
Every estimator accepts one trajectory or a list/tuple of trajectories; outputs mirror
inputs. Time-lagged pairs are built within trajectories, never across them. All
estimators go through :func:`check_trajectories` and :func:`lagged_pairs`; none
re-implements them.
"""

import numbers
import sys
import warnings

import numpy as np
from scipy.sparse import issparse
from sklearn.utils.validation import (
    _check_feature_names,
    _get_feature_names,
    check_array,
)

__all__ = [
    "Trajectories",
    "as_column",
    "check_bin_edges",
    "check_finite",
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


def _from_torch(X):
    """A torch tensor as a detached CPU numpy copy; anything else unchanged.

    torch is not imported here: a tensor can only exist once the user imported it.
    """
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(X, torch.Tensor):
        return X
    t = X.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()
    out = t.cpu().resolve_conj().resolve_neg().numpy()
    # A CPU tensor shares its memory with the array: copy, so nothing later can
    # write into the user's tensor.
    return out.copy() if t.device.type == "cpu" else out


def _as_array(X, name):
    """Nested sequences as an ndarray; array-likes and sparse matrices pass through."""
    if X is None or isinstance(X, str | bytes | dict | set | frozenset):
        raise TypeError(
            f"{name} must be an array-like of shape (n_frames, n_features) or a list "
            f"of such arrays; got {type(X).__name__}."
        )
    if hasattr(X, "__array__") or issparse(X):
        return X
    try:
        return np.asarray(X)
    except ValueError:
        raise ValueError(
            f"{name} is a ragged nested sequence (its rows have different lengths); "
            "expected a 2-D array of shape (n_frames, n_features) or a list of 2-D "
            "arrays (trajectories may differ in length, not in width)."
        ) from None


def _dtype_kinds(X):
    """The numpy kind characters of the dtype(s) of ``X`` (a DataFrame has several)."""
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, np.dtype):
        return {dtype.kind}
    dtypes = getattr(X, "dtypes", None)
    if dtypes is not None:
        try:
            return {getattr(d, "kind", "O") for d in dtypes}
        except TypeError:
            pass
    return set()


def _check_kind(X, name):
    """Refuse dtypes that are not real numbers (objects are converted later)."""
    kinds = _dtype_kinds(X)
    dtype = getattr(X, "dtype", None)
    got = f"dtype {dtype}" if isinstance(dtype, np.dtype) else "columns of dtypes "
    if not isinstance(dtype, np.dtype):
        got += ", ".join(sorted({str(d) for d in getattr(X, "dtypes", [])}))
    if "c" in kinds:
        raise ValueError(
            f"Complex data not supported: {name} has {got}; expected real numbers "
            "(float or int). Pass the real and imaginary parts as separate features."
        )
    if "b" in kinds:
        raise TypeError(
            f"{name} has {got}; expected real numbers (float or int). Use "
            f"{name}.astype(float) if the booleans are meant as 0/1 features."
        )
    if kinds & set("USMmV"):
        raise TypeError(f"{name} has {got}; expected real numbers (float or int).")


def _check_ndim(X, name):
    if hasattr(X, "ndim") and hasattr(X, "shape"):
        ndim, shape = X.ndim, tuple(X.shape)
    elif hasattr(X, "__array__"):
        arr = np.asarray(X)
        ndim, shape = arr.ndim, arr.shape
    else:
        return  # sparse matrices...: check_array decides
    if ndim == 0:
        raise ValueError(
            f"Expected 2D array, got scalar array instead: {name} is a single value; "
            "expected an array of shape (n_frames, n_features) or a list of such "
            "arrays."
        )
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


def _check_size(X, name):
    n_frames, n_features = X.shape
    if n_frames == 0:
        raise ValueError(
            f"{name} has no frames: 0 sample(s) (shape={X.shape}) while a minimum of "
            "1 is required."
        )
    if n_features == 0:
        raise ValueError(
            f"{name} has no features: 0 feature(s) (shape={X.shape}) while a minimum "
            "of 1 is required."
        )


def check_finite(X, name):
    """Raise a ``ValueError`` naming ``name`` and the first non-finite entry of ``X``.

    ``X`` is a numeric ndarray; the message starts with ``"Input <name> contains
    NaN"`` or ``"Input <name> contains infinity"``.
    """
    if np.isfinite(np.sum(X, dtype=np.float64)):
        return
    finite = np.isfinite(X)
    if finite.all():
        return  # the sum overflowed, the values are fine
    first = tuple(int(i) for i in np.argwhere(~finite)[0])
    what = "NaN" if np.isnan(X).any() else "infinity"
    where = f"frame {first[0]}, feature {first[1]}" if len(first) == 2 else f"{first}"
    raise ValueError(
        f"Input {name} contains {what} ({np.count_nonzero(~finite)} non-finite "
        f"value(s), the first at {where}); expected finite values."
    )


def _check_one(estimator, X, *, name, reset, check_features, dtype):
    X = _as_array(_from_torch(X), name)
    _check_kind(X, name)
    _check_ndim(X, name)
    if check_features and estimator is not None:
        _check_feature_names(estimator, X, reset=reset)
    try:
        X = check_array(
            X,
            dtype=dtype,
            ensure_all_finite=False,
            ensure_2d=True,
            ensure_min_samples=0,
            ensure_min_features=0,
            input_name=name,
        )
    except (TypeError, ValueError) as exc:
        if "O" not in _dtype_kinds(X):
            raise
        raise type(exc)(
            f"{name} must hold real numbers (float or int); an element could not be "
            f"converted: {exc}"
        ) from None
    _check_size(X, name)
    check_finite(X, name)
    return X


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
        The user's data: arrays, nested lists, DataFrames or torch tensors (detached
        and copied to CPU memory, so ``requires_grad`` and the device do not
        matter). It is never modified: arrays are converted (copied) only when their
        dtype is not float32/float64.
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

    Raises
    ------
    TypeError
        ``X`` is not array-like (None, a string, a dict), holds booleans, strings or
        other non-numbers, or is a list mixing 2-D arrays with other elements.
    ValueError
        ``X`` or one of its trajectories is ragged, complex, not 2-D, has no frames
        or no features, contains NaN or infinity, or the widths differ from each
        other or from the fitted width. Every message names the argument (``X[i]``
        for the i-th trajectory of a list).
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


def as_column(X):
    """A 1-D series as an ``(n_frames, 1)`` column; anything else unchanged.

    Nested sequences become arrays; ragged ones and other inputs are left for
    :func:`check_trajectories` to validate and name.
    """
    X = _from_torch(X)
    if isinstance(X, list | tuple):
        try:
            X = np.asarray(X)
        except ValueError:
            return X
    if getattr(X, "ndim", None) == 1 and hasattr(X, "reshape"):
        return X.reshape(-1, 1)
    return X


def check_int(value, name, minimum=None):
    """Return ``value`` as an int, or raise an error that names the argument.

    Raises
    ------
    TypeError
        ``value`` is not an integer; ``bool`` (also ``numpy.bool_``) is refused.
    ValueError
        ``value`` is below ``minimum``.
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
