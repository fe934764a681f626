"""The data model shared by every sklss estimator.

A *trajectory* is a 2-D array ``(n_frames, n_features)`` of equally spaced frames.
Every estimator accepts one trajectory or a list/tuple of trajectories; outputs mirror
inputs. Time-lagged pairs are built within trajectories, never across them. All
estimators go through :func:`check_trajectories` and :func:`lagged_pairs`; none
re-implements them.
"""

import numbers
import os
import sys

import numpy as np
from scipy.sparse import issparse
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_feature_names,
    _get_feature_names,
    check_array,
)

__all__ = [
    "Trajectories",
    "as_column",
    "check_bin_edges",
    "check_bins",
    "check_finite",
    "check_fits_in_memory",
    "check_int",
    "check_lagtime",
    "check_random_state_named",
    "check_range",
    "check_real",
    "check_real_array",
    "check_trajectories",
    "histogram_edges",
    "lagged_pairs",
    "usable_trajectories",
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
    if issparse(X):  # before the dict test: scipy's dok format is a dict
        return X
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
            f"trajectories of equal length, pass list({name}) (or, for generated "
            "trajectories, SimulationResult.to_list())."
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


def _check_lazy(X, name):
    """A trajectory read lazily (``sklss.LazyTrajectory``): its shape and dtype are
    checked here, its values as they are read."""
    if X.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers (float or int); got dtype {X.dtype}."
        )
    _check_size(X, name)
    return X


def _check_one(estimator, X, *, name, reset, check_features, dtype):
    if getattr(X, "_sklss_lazy", False):
        return _check_lazy(X, name)
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
    if isinstance(X, list | tuple) or (
        hasattr(X, "__array__") and not hasattr(X, "ndim")
    ):
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


def check_bool(value, name):
    """Return ``value`` as a bool, or raise a ``TypeError`` that names the argument.

    ``True``/``False`` and ``numpy.bool_`` are accepted; 0, 1 and other truthy
    values are refused, so that a misplaced argument is not silently read as a flag.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(
            f"{name} must be a bool; got {value!r} of type {type(value).__name__}."
        )
    return bool(value)


def check_lagtime(lagtime, name="lagtime", *, trajectories=None, data_name="X"):
    """Return ``lagtime`` (in frames) as a positive int or raise a clear error.

    With ``trajectories``, the lag must also be shorter than the longest of them,
    so that at least one pair of frames ``lagtime`` apart exists.
    """
    lagtime = check_int(lagtime, name, 1)
    if trajectories is not None:
        longest = max(len(t) for t in trajectories)
        if lagtime >= longest:
            raise ValueError(
                f"{name} must be shorter than the longest trajectory of {data_name} "
                f"({longest} frames), so that a pair of frames {lagtime} apart "
                f"exists; got {lagtime}."
            )
    return lagtime


def usable_trajectories(trajectories, lagtime, *, name="X", estimator_name=None):
    """The trajectories long enough for a pair at ``lagtime`` (nothing is read).

    Trajectories shorter than ``lagtime + 1`` frames are skipped with a warning; if
    none is left, a ``ValueError`` is raised.

    Returns
    -------
    list of int
        Indices of the usable trajectories.
    """
    lagtime = check_lagtime(lagtime)
    who = f"{estimator_name}: " if estimator_name else ""
    lengths = [len(t) for t in trajectories]
    usable = [i for i, n in enumerate(lengths) if n > lagtime]
    skipped = len(trajectories) - len(usable)
    if not usable:
        n = sum(lengths)
        raise ValueError(
            f"{who}{name} has no trajectory with at least lagtime + 1 = {lagtime + 1} "
            f"frames (trajectory lengths {lengths}, n_samples = {n}); time-lagged "
            "pairs cannot be formed. Provide longer trajectories or a smaller lagtime."
        )
    if skipped:
        from ._warnings import warn

        warn(
            f"{who}{skipped} of {len(trajectories)} trajectories in {name} are shorter "
            f"than lagtime + 1 = {lagtime + 1} frames and were skipped.",
            UserWarning,
        )
    return usable


def lagged_pairs(trajectories, lagtime, *, name="X", estimator_name=None):
    """Time-lagged pairs ``(x_t, x_{t+lagtime})`` built within each trajectory.

    Trajectories shorter than ``lagtime + 1`` frames are skipped with a warning; if
    none is left, a ``ValueError`` is raised (:func:`usable_trajectories`). No pair
    spans two trajectories.

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
    usable = [
        trajectories[i]
        for i in usable_trajectories(
            trajectories, lagtime, name=name, estimator_name=estimator_name
        )
    ]
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


def check_real(value, name, *, low=None, high=None, closed="both", allow_none=False):
    """Return ``value`` as a finite float in an interval, or raise a named error.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        The argument's name, used in the messages.
    low, high : float or None, default=None
        Bounds of the interval; ``None`` leaves that side open. The value must be
        finite in any case (NaN and infinity are refused).
    closed : {"both", "left", "right", "neither"}, default="both"
        Which bounds belong to the interval.
    allow_none : bool, default=False
        Accept (and return) ``None``.

    Returns
    -------
    float or None

    Raises
    ------
    TypeError
        ``value`` is not a real number (``bool``, strings, complex numbers and
        sequences are refused), or ``None`` when not allowed.
    ValueError
        ``value`` is NaN, infinite or outside the interval.
    """
    if value is None and allow_none:
        return None
    left = low is not None and closed in ("both", "left")
    right = high is not None and closed in ("both", "right")
    interval = (
        ("[" if left else "(")
        + ("-inf" if low is None else f"{low:g}")
        + ", "
        + ("inf" if high is None else f"{high:g}")
        + ("]" if right else ")")
    )
    expected = f"a finite float in {interval}" + (" or None" if allow_none else "")
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be {expected}; got {value!r} of type {type(value).__name__}."
        )
    try:
        number = float(value)
    except OverflowError:
        number = float("inf") if value > 0 else float("-inf")
    outside = not np.isfinite(number)
    if low is not None:
        outside |= number < low if left else number <= low
    if high is not None:
        outside |= number > high if right else number >= high
    if outside:
        raise ValueError(f"{name} must be {expected}; got {value!r}.")
    return number


def check_real_array(value, name, *, ndim=None, allow_nan=False):
    """Return ``value`` as a new float64 array of real numbers, or raise a named error.

    Parameters
    ----------
    value : array-like
        Numbers, nested sequences, arrays or torch tensors (detached and copied,
        so ``requires_grad`` and the device do not matter).
    name : str
        The argument's name, used in the messages.
    ndim : int or None, default=None
        Required number of dimensions.
    allow_nan : bool, default=False
        Accept NaN (infinity is refused in any case).

    Returns
    -------
    ndarray of float64
        A copy: the caller may modify it.

    Raises
    ------
    TypeError
        ``value`` is None, a string, a dict or a set, or holds booleans, strings or
        other non-numbers.
    ValueError
        ``value`` is ragged, complex, has another number of dimensions than
        ``ndim``, or holds infinity (or NaN, unless allowed).
    """
    value = _from_torch(value)
    if value is None or isinstance(value, str | bytes | dict | set | frozenset):
        raise TypeError(
            f"{name} must be an array-like of real numbers; got {type(value).__name__}."
        )
    try:
        arr = np.asarray(value)
    except ValueError:
        raise ValueError(
            f"{name} is a ragged nested sequence (its rows have different lengths); "
            "expected an array of real numbers."
        ) from None
    if arr.dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: {name} has dtype {arr.dtype}; expected "
            "real numbers."
        )
    if arr.dtype.kind not in "iuf" + "O":
        raise TypeError(
            f"{name} has dtype {arr.dtype}; expected real numbers (float or int)."
        )
    if arr.dtype.kind == "O":
        bad = [
            v
            for v in arr.ravel()
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real)
        ]
        if bad:
            bad = bad[0]
            raise TypeError(
                f"{name} must hold real numbers (float or int); got an element "
                f"{bad!r} of type {type(bad).__name__}."
            )
    try:
        arr = arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise TypeError(
            f"{name} must hold real numbers (float or int); an element could not be "
            f"converted: {exc}"
        ) from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array; got an array of shape {arr.shape}."
        )
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        what = "infinity" if allow_nan or not np.isnan(arr).any() else "NaN"
        raise ValueError(
            f"{name} contains {what} ({np.count_nonzero(bad)} value(s)); expected "
            f"finite values{' or NaN' if allow_nan else ''}."
        )
    return arr


def check_seed(random_state, name="random_state", *, reason="it must be recorded"):
    """``random_state`` as None or an int in ``[0, 2**32 - 1]``, for runs whose seed
    is written to disk (to resume or reproduce them); a ``RandomState`` is refused
    with ``reason``.
    """
    expected = "None or an int in [0, 2**32 - 1]"
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState) or random_state is np.random:
        raise TypeError(
            f"{name} must be {expected}; got a numpy random state, which cannot be "
            f"used here: {reason}. Pass an int."
        )
    return _seed_int(random_state, name, expected)


def check_random_state_named(random_state, name="random_state"):
    """:func:`sklearn.utils.check_random_state` with errors that name the argument.

    Parameters
    ----------
    random_state : None, int, numpy.random.RandomState or the numpy.random module
        ``None`` or ``numpy.random``: the global random state; an int in
        ``[0, 2**32 - 1]``: a new RandomState seeded with it; a RandomState: itself.
    name : str, default="random_state"
        The argument's name, used in the messages.

    Returns
    -------
    numpy.random.RandomState

    Raises
    ------
    TypeError
        ``random_state`` is of another type (``bool``, float, str, sequence...).
    ValueError
        ``random_state`` is an int outside ``[0, 2**32 - 1]``.
    """
    if random_state is None or random_state is np.random:
        return check_random_state(random_state)
    if isinstance(random_state, np.random.RandomState):
        return random_state
    expected = "None, an int in [0, 2**32 - 1] or a numpy.random.RandomState"
    return np.random.RandomState(_seed_int(random_state, name, expected))


def _seed_int(value, name, expected):
    """``value`` as an int seed in ``[0, 2**32 - 1]`` (bool refused)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be {expected}; got {value!r} of type {type(value).__name__}."
        )
    if not 0 <= value <= 2**32 - 1:
        raise ValueError(f"{name} must be {expected}; got {value}.")
    return int(value)


def _system_memory():
    """Bytes of memory the system has available, or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _address_space_left():
    """Bytes this process may still map under its address-space limit, or None."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as fh:
            mapped = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, AttributeError, OSError, ValueError, IndexError):
        return None
    return max(soft - mapped, 0)


def available_memory():
    """Bytes a new allocation may take: the system's memory and the process limit."""
    limits = [m for m in (_system_memory(), _address_space_left()) if m is not None]
    return min(limits) if limits else None


def _format_bytes(n):
    if n >= 1024**6:
        return "more than 1 EiB"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_fits_in_memory(n_bytes, arguments):
    """Refuse a request whose arrays would not fit in the available memory.

    Parameters
    ----------
    n_bytes : int
        Bytes the output (with the working arrays) needs.
    arguments : dict
        The size arguments that determine ``n_bytes``, by name, for the message.

    Raises
    ------
    ValueError
        ``n_bytes`` exceeds the memory available (checked before anything is
        allocated or computed). Nothing is checked when the available memory
        cannot be determined.
    """
    available = available_memory()
    if available is None or n_bytes <= available:
        return
    given = ", ".join(f"{name}={value}" for name, value in arguments.items())
    raise ValueError(
        f"{given} would need about {_format_bytes(n_bytes)} ({n_bytes} bytes) of "
        f"memory, more than the {_format_bytes(available)} available; reduce "
        f"{' or '.join(arguments)}."
    )


def check_bin_edges(edges, name):
    """Return ``edges`` as a float64 array of strictly increasing, finite bin edges.

    Raises
    ------
    TypeError
        ``edges`` is not an array-like of real numbers.
    ValueError
        ``edges`` is not 1-D, has fewer than two edges, holds NaN or infinity or
        is not strictly increasing.
    """
    expected = "a 1-D array of at least two finite, strictly increasing bin edges"
    try:
        arr = check_real_array(edges, name)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name} must be {expected}; {exc}") from None
    if arr.ndim != 1 or len(arr) < 2 or np.any(np.diff(arr) <= 0):
        raise ValueError(f"{name} must be {expected}; got {arr!r}.")
    return arr


def check_range(value, name="range"):
    """Return ``value`` as a ``(low, high)`` pair of finite floats with ``low < high``.

    Raises
    ------
    TypeError
        ``value`` is not a pair of real numbers.
    ValueError
        ``value`` does not hold two values, a value is not finite, or
        ``low >= high``.
    """
    expected = "(low, high) with finite low < high"
    try:
        n_values = None if isinstance(value, str | bytes | dict) else len(value)
    except TypeError:
        n_values = None
    if n_values is None:
        raise TypeError(
            f"{name} must be {expected}; got {value!r} of type {type(value).__name__}."
        )
    if n_values != 2:
        raise ValueError(f"{name} must be {expected}; got {n_values} value(s).")
    low, high = (check_real(v, name) for v in value)
    if not low < high:
        raise ValueError(f"{name} must be {expected}; got {value!r}.")
    return low, high


def check_bins(
    bins,
    range=None,  # noqa: A002 - numpy's name
    *,
    name="bins",
    range_name="range",
    minimum=1,
    n_dims=1,
    n_arrays=16,
    allow_edges=True,
):
    """Validate the bins of a histogram: a number of bins (and a range) or edges.

    Parameters
    ----------
    bins : int or array-like
        A number of equal bins, or bin edges when ``allow_edges``.
    range : (float, float) or None, default=None
        Range of the equal bins; ``None`` leaves it to the data. Refused with
        edges, which fix the range themselves.
    name, range_name : str
        The arguments' names, used in the messages.
    minimum : int, default=1
        Smallest number of bins.
    n_dims : int, default=1
        Dimensions of the histogram: it has ``bins ** n_dims`` cells.
    n_arrays : int, default=16
        Float64 arrays of one value per cell the caller allocates; with
        ``n_dims`` they bound the memory checked before anything is allocated.
    allow_edges : bool, default=True
        Accept bin edges instead of a number of bins.

    Returns
    -------
    bins : int or ndarray
        The number of bins, or the edges as a float64 array.
    range : (float, float) or None
        The checked range (``None`` with edges or when none was given).

    Raises
    ------
    TypeError
        ``bins`` is not an int (nor edges), or ``range`` is not a pair of numbers.
    ValueError
        ``bins < minimum``, the histogram would not fit in the available memory,
        the edges are not strictly increasing and finite, ``range`` is not finite
        with ``low < high``, or both edges and ``range`` were given.
    """
    if allow_edges and (
        isinstance(bins, list | tuple | np.ndarray) or hasattr(bins, "__array__")
    ):
        if range is not None:
            raise ValueError(
                f"{range_name} applies only when {name} is a number of bins; the "
                f"edges given as {name} already fix the range, got "
                f"{range_name}={range!r}."
            )
        return check_bin_edges(bins, name), None
    n_bins = check_int(bins, name, minimum)
    check_fits_in_memory(8 * n_arrays * n_bins**n_dims, {name: n_bins})
    return n_bins, None if range is None else check_range(range, range_name)


def histogram_edges(bins, range, values, name):  # noqa: A002 - numpy's name
    """Bin edges from the result of :func:`check_bins` and the data ``values``.

    Without a range the equal bins span the minimum and maximum of ``values``,
    widened by 0.5 on each side when they are equal (numpy's rule).

    Raises
    ------
    ValueError
        The span of ``values`` (argument ``name``) exceeds the largest float.
    """
    if not isinstance(bins, numbers.Integral):
        return bins
    if range is None:
        low, high = float(np.min(values)), float(np.max(values))
        if low == high:
            low, high = low - 0.5, high + 0.5
    else:
        low, high = range
    with np.errstate(over="ignore", invalid="ignore"):
        edges = np.linspace(low, high, bins + 1)
    if not np.all(np.isfinite(edges)):
        raise ValueError(
            f"The values of {name} span [{low!r}, {high!r}], wider than the largest "
            "float: their histogram cannot be computed. Rescale them or pass a "
            "range."
        )
    return edges


def check_output_container(estimator, is_list, name="X"):
    """Refuse a DataFrame output (``set_output``) for a list of trajectories.

    scikit-learn turns the output of ``transform`` into one pandas or polars table;
    a list of trajectories would lose its boundaries (or fail inside
    scikit-learn). Raised before any work, with what to do instead.
    """
    if not is_list or not getattr(
        type(estimator), "_sklearn_auto_wrap_output_keys", None
    ):
        return
    if not hasattr(estimator, "get_feature_names_out"):
        return  # scikit-learn wraps nothing without feature names
    from sklearn import get_config

    own = getattr(estimator, "_sklearn_output_config", {})
    container = own.get("transform", get_config()["transform_output"])
    if container in (None, "default"):
        return
    raise ValueError(
        f"{type(estimator).__name__} is set to output {container} DataFrames "
        f"(set_output(transform={container!r})), which hold one trajectory each; "
        f"{name} is a list of trajectories. Transform them one at a time "
        f"([est.transform(x) for x in {name}] gives one DataFrame per trajectory), "
        "or use set_output(transform='default') to get a list of arrays."
    )
