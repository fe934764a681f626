"""Torch plumbing shared by every sklss estimator: devices, seeds, nets, pickling."""

import contextlib
import copy
import functools
import numbers
import warnings

import numpy as np
import torch

from ._data import check_random_state_named
from ._version import __version__
from .exceptions import InconsistentVersionWarning

__all__ = [
    "ACTIVATIONS",
    "BufferedForward",
    "NUMPY_ACTIVATIONS",
    "activation_name",
    "TorchEstimatorMixin",
    "as_tensor",
    "check_hidden_layer_sizes",
    "make_mlp",
    "mlp_parameter_count",
    "resolve_device",
    "seed_from_random_state",
    "seeded",
    "to_numpy",
    "torch_generator",
]

ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "tanh": torch.nn.Tanh,
    "swish": torch.nn.SiLU,
    "silu": torch.nn.SiLU,
    "elu": torch.nn.ELU,
    "gelu": torch.nn.GELU,
    "leaky_relu": torch.nn.LeakyReLU,
    "sigmoid": torch.nn.Sigmoid,
    "identity": torch.nn.Identity,
}


def _np_sigmoid(h):
    # sigmoid(h) = (1 + tanh(h / 2)) / 2, without overflow for large |h|.
    h *= 0.5
    np.tanh(h, out=h)
    h += 1.0
    h *= 0.5
    return h


def _np_silu(h):
    return np.multiply(h, _np_sigmoid(h.copy()), out=h)


def _np_elu(h):
    neg = np.minimum(h, 0.0)
    np.expm1(neg, out=neg)
    return np.add(np.maximum(h, 0.0, out=h), neg, out=h)


def _np_gelu(h):
    from scipy.special import erf

    return np.multiply(h, 0.5 * (1.0 + erf(h / np.sqrt(2.0))), out=h)


# The same activations on numpy arrays, in place (for the CPU samplers, where
# torch's per-call overhead dominates); tests check them against ACTIVATIONS.
NUMPY_ACTIVATIONS = {
    "relu": lambda h: np.maximum(h, 0.0, out=h),
    "tanh": lambda h: np.tanh(h, out=h),
    "swish": _np_silu,
    "silu": _np_silu,
    "elu": _np_elu,
    "gelu": _np_gelu,
    "leaky_relu": lambda h: np.maximum(h, 0.01 * h, out=h),
    "sigmoid": _np_sigmoid,
    "identity": lambda h: h,
}


def activation_name(module):
    """The key of ``ACTIVATIONS`` for an activation module."""
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            return name
    raise TypeError(f"unsupported activation module {module!r}")


# In-place versions of the activations, for inference into preallocated buffers.
_INPLACE = {
    torch.nn.ReLU: lambda m, h: h.relu_(),
    torch.nn.Tanh: lambda m, h: h.tanh_(),
    torch.nn.SiLU: lambda m, h: torch.nn.functional.silu(h, inplace=True),
    torch.nn.ELU: lambda m, h: torch.nn.functional.elu(h, m.alpha, inplace=True),
    torch.nn.LeakyReLU: lambda m, h: torch.nn.functional.leaky_relu(
        h, m.negative_slope, inplace=True
    ),
    torch.nn.Sigmoid: lambda m, h: h.sigmoid_(),
    torch.nn.Identity: lambda m, h: h,
}


class BufferedForward:
    """Inference through a ``Sequential`` of ``Linear`` layers and activations for
    batches of at most ``batch_size`` rows, into buffers allocated once.

    Each ``Linear`` writes its ``addmm`` into its own buffer and the activation
    after it runs in place (out of place for those without an in-place form), so
    repeated calls allocate nothing. The returned tensor is the last buffer (or a
    view of it): it is overwritten by the next call. Call under
    ``torch.inference_mode()``.
    """

    def __init__(self, network, batch_size, device):
        self.layers = []  # [transposed weight, bias, [in-place activations]]
        for module in network:
            if isinstance(module, torch.nn.Linear):
                self.layers.append([module.weight.t(), module.bias, []])
            elif not self.layers:
                raise TypeError(f"{network!r} must start with a Linear layer")
            else:
                inplace = _INPLACE.get(type(module))
                self.layers[-1][2].append(
                    module if inplace is None else functools.partial(inplace, module)
                )
        self.buffers = [
            torch.empty((batch_size, Wt.shape[1]), device=device)
            for Wt, _, _ in self.layers
        ]

    def __call__(self, x):
        h = x
        n = len(x)
        for (Wt, b, activations), buffer in zip(self.layers, self.buffers, strict=True):
            out = buffer[:n]
            torch.addmm(b, h, Wt, out=out)
            h = out
            for activation in activations:
                h = activation(h)
        return h


def chunked_forward(network, X, chunk=65536):
    """``network(X)`` computed on chunks of ``chunk`` rows and concatenated, to
    bound the memory of the activations."""
    if len(X) <= chunk:
        return network(X)
    return torch.cat([network(c) for c in torch.split(X, chunk)])


def resolve_device(device, name="device"):
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` into a ``torch.device``.

    ``"auto"`` picks CUDA when it is available. Asking for CUDA on a machine without
    it is a ``ValueError``, never a silent fallback.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(
            f"{name} must be a string ('cpu', 'cuda', 'cuda:N' or 'auto'); got "
            f"{device!r} of type {type(device).__name__}."
        )
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}={device!r} was requested but CUDA is not available on this "
                "machine (torch.cuda.is_available() is False); use device='cpu' or "
                "device='auto'."
            )
        dev = torch.device(device)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}={device!r}: this machine has {torch.cuda.device_count()} "
                "CUDA device(s)."
            )
        return dev
    raise ValueError(
        f"{name} must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {device!r}."
    )


def seed_from_random_state(random_state, name="random_state"):
    """Draw a torch seed from a scikit-learn ``random_state``.

    ``None`` gives a fresh seed each call; an int always gives the same seed; a
    ``RandomState`` instance is advanced (scikit-learn's convention).

    Raises
    ------
    TypeError
        ``random_state`` is not None, an int or a ``RandomState`` (message naming
        ``name``).
    ValueError
        ``random_state`` is an int outside ``[0, 2**32 - 1]``.
    """
    rng = check_random_state_named(random_state, name)
    return int(rng.randint(0, 2**31 - 1))


def torch_generator(seed, device="cpu"):
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen


@contextlib.contextmanager
def seeded(seed):
    """Seed torch's global CPU generator inside the block and restore it afterwards.

    Used to build networks reproducibly (parameter initialisation draws from the
    global generator) without touching the user's global random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def check_hidden_layer_sizes(hidden_layer_sizes, name="hidden_layer_sizes"):
    """Return ``hidden_layer_sizes`` as a tuple of positive ints; ``()`` is allowed.

    Raises
    ------
    TypeError
        ``hidden_layer_sizes`` is not an int or a sequence (a string, a dict or a
        set is refused).
    ValueError
        A size is not a positive int.
    """
    if isinstance(hidden_layer_sizes, numbers.Integral) and not isinstance(
        hidden_layer_sizes, bool
    ):
        hidden_layer_sizes = (hidden_layer_sizes,)
    if isinstance(hidden_layer_sizes, str | bytes | dict | set | frozenset):
        raise TypeError(
            f"{name} must be a tuple of positive ints; got {hidden_layer_sizes!r} of "
            f"type {type(hidden_layer_sizes).__name__}."
        )
    try:
        sizes = tuple(hidden_layer_sizes)
    except TypeError:
        raise TypeError(
            f"{name} must be a tuple of positive ints; got {hidden_layer_sizes!r}."
        ) from None
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(
                f"{name} must be a tuple of positive ints; got {hidden_layer_sizes!r}."
            )
    return tuple(int(s) for s in sizes)


def make_mlp(
    n_in,
    hidden_layer_sizes,
    n_out,
    *,
    activation="relu",
    batch_norm=False,
    output_activation=None,
):
    """A multilayer perceptron: ``[Linear -> (BatchNorm) -> activation] * k -> Linear``.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    hidden_layer_sizes : tuple of int
        Widths of the hidden layers; ``()`` gives a single linear layer.
    activation : str
        A key of ``ACTIVATIONS``.
    batch_norm : bool
        Batch normalisation after each hidden linear layer.
    output_activation : str or None
        Activation applied to the output.
    """
    layers = []
    width = n_in
    for size in hidden_layer_sizes:
        layers.append(torch.nn.Linear(width, size))
        if batch_norm:
            layers.append(torch.nn.BatchNorm1d(size))
        layers.append(ACTIVATIONS[activation]())
        width = size
    layers.append(torch.nn.Linear(width, n_out))
    if output_activation is not None:
        layers.append(ACTIVATIONS[output_activation]())
    return torch.nn.Sequential(*layers)


def mlp_parameter_count(n_in, hidden_layer_sizes, n_out, *, batch_norm=False):
    """Number of parameters (and batch-norm buffers) of :func:`make_mlp`'s network.

    Exact Python integers: it can be checked before anything is allocated.
    """
    widths = [int(n_in), *(int(s) for s in hidden_layer_sizes), int(n_out)]
    count = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    if batch_norm:
        # weight, bias, running mean and running variance per hidden unit
        count += 4 * sum(widths[1:-1])
    return count


def as_tensor(X, device, dtype=torch.float32):
    """``X`` as a tensor on ``device``; never shares memory with a read-only array."""
    np_dtype = {torch.float32: np.float32, torch.float64: np.float64}[dtype]
    X = np.asarray(X)
    if X.dtype != np_dtype or not X.flags.writeable:
        X = np.array(X, dtype=np_dtype, copy=True)
    return torch.from_numpy(np.ascontiguousarray(X)).to(device)


def to_numpy(value):
    """A torch tensor as a numpy array (detached, on the CPU); anything else as is.

    For arguments that reach numpy without :func:`sklss._data.check_trajectories`:
    a tensor that requires grad cannot be converted by ``np.asarray``.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def _to_device(value, device):
    if isinstance(value, torch.nn.Module):
        return value.to(device)
    if isinstance(value, torch.Tensor):
        return value.to(device)
    return value


class TorchEstimatorMixin:
    """Device-independent pickling for estimators that hold torch modules or tensors.

    Torch state is pickled from CPU copies (the live estimator is left untouched), with
    the sklss version. On loading it is restored onto ``device_`` when that device
    exists, otherwise onto the CPU with a warning, and ``device_`` is updated. A
    version mismatch gives an :class:`~sklss.exceptions.InconsistentVersionWarning`.

    Parameters added after estimators of a class were first saved are listed in
    ``_added_params`` with the value that reproduces what an estimator saved without
    them did; loading fills them in (:meth:`_fill_added_params`).
    """

    _added_params = {}

    def _fill_added_params(self):
        for name, value in self._added_params.items():
            if name not in self.__dict__:
                setattr(self, name, value)

    def __getstate__(self):
        state = dict(super().__getstate__())
        for key, value in state.items():
            if isinstance(value, torch.nn.Module):
                if any(t.device.type != "cpu" for t in value.state_dict().values()):
                    value = copy.deepcopy(value).to("cpu")
                state[key] = value
            elif isinstance(value, torch.Tensor):
                state[key] = value.detach().to("cpu")
        state["_sklss_version"] = __version__
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_sklss_version", None)
        if saved is not None and saved != __version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    saved_version=saved,
                    current_version=__version__,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)
        self._fill_added_params()
        device = state.get("device_")
        if device is None:
            return
        target = torch.device("cpu")
        if str(device) != "cpu":
            try:
                target = resolve_device(str(device))
            except ValueError:
                warnings.warn(
                    f"{type(self).__name__} was fitted on {device!r}, which is not "
                    "available here; it was loaded onto the CPU.",
                    UserWarning,
                    stacklevel=2,
                )
        self.device_ = str(target)
        for key, value in list(vars(self).items()):
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                setattr(self, key, _to_device(value, target))

    def to_device(self, device):
        """Move the fitted networks (and those of nested estimators) to ``device``.

        The ``device`` parameter, used by the next ``fit``, is left unchanged; the
        fitted attribute ``device_`` follows the move.

        Parameters
        ----------
        device : {"cpu", "cuda", "cuda:N", "auto"}

        Returns
        -------
        self
        """
        target = resolve_device(device)
        for key, value in list(vars(self).items()):
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                setattr(self, key, _to_device(value, target))
            elif isinstance(value, TorchEstimatorMixin):
                value.to_device(target)
        if "device_" in vars(self):
            self.device_ = str(target)
        return self
