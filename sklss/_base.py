"""The shared base of the network estimators: SRV encoder, MDN propagator, cWGAN.

:class:`BaseNetwork` owns what the three networks have in common: the shared
parameters and their constraints, device and seed resolution, the learning-rate
schedule, ``warm_start``, epoch-end callbacks, and a template ``fit`` that validates
the data, builds (or reuses) the networks, trains them with the one training loop
of :mod:`sklss._training` and assigns every fitted attribute at once, at the end.
A failed ``fit`` therefore leaves the estimator as it was: unfitted, or with its
previous complete fit unchanged. That includes divergence, whose
:class:`~sklss.exceptions.TrainingDivergedError` offers the weights of the good epochs
as a separate fitted copy, ``partial_estimator``. An interrupted ``fit``
(``KeyboardInterrupt`` after the first epoch) ends normally with the best weights so
far and ``converged_ = False``. :class:`AffineScaler` is the one input-scaling module
of the package: it standardises in float64 and refuses values that would not fit the
networks' float32.

A subclass implements five hooks:

``_check_fit_data(X, y) -> FitData``
    Validate the data and build what training needs (pairs, arrays); touch nothing
    on ``self``.
``_n_parameters(data, hidden_layer_sizes) -> int``
    How many weights the networks of ``_build`` will have: checked against the
    available memory before anything is built.
``_build(data, hidden_layer_sizes) -> dict``
    Fresh modules (networks and scalers) keyed by their fitted attribute name,
    built under the fit's seed.
``_training_plan(modules, data, device, *, seed, generator, lr) -> TrainingPlan``
    The optimisation step, the optional validation loss and the optimizers.
``_finalize(modules, data, device, plan) -> dict``
    Further fitted attributes (and the final form of the modules).
"""

import copy
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from ._data import check_fits_in_memory
from ._distributed import limit_threads_in_worker
from ._torch import (
    ACTIVATIONS,
    TorchEstimatorMixin,
    as_tensor,
    check_hidden_layer_sizes,
    resolve_device,
    seed_from_random_state,
    seeded,
    torch_generator,
)
from ._training import Callback, EpochEndCallback, train
from .exceptions import TrainingDivergedError

__all__ = [
    "AffineScaler",
    "BaseNetwork",
    "FIT_STACKLEVEL",
    "FitData",
    "TrainingPlan",
    "check_component",
    "mean_and_std",
    "reject_bool_numbers",
    "store_init_params",
]

_SCHEDULES = ("constant", "linear")

# Warnings raised while building the networks point at the user's call of ``fit``:
# _build <- _fit <- fit <- scikit-learn's fit wrapper <- the caller.
FIT_STACKLEVEL = 5
# A feature whose spread is at most this fraction of its magnitude varies only in its
# last few float64 digits: it is treated as constant (with a warning).
_RELATIVE_PRECISION = 1e-12
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Memory a float32 weight costs while training: the weight, its gradient, Adam's
# two moments, the snapshots of the best and of the last epoch, a weight average
# or warm-start copy, and one spare copy while a snapshot is taken.
_BYTES_PER_PARAMETER = 8 * 4


def check_component(value, name, methods):
    """Refuse a parameter that should be an estimator instance but is not.

    Parameters
    ----------
    value : object
        The parameter's value (``None`` is handled by the caller).
    name : str
        The parameter's name, used in the message.
    methods : tuple of str
        Methods the estimator must have (besides ``get_params``, which
        :func:`sklearn.base.clone` needs).

    Raises
    ------
    TypeError
        ``value`` is a class rather than an instance, or lacks ``get_params`` or
        one of ``methods``.
    """
    wanted = ", ".join(("get_params", *methods))
    expected = f"an estimator instance with {wanted}"
    if isinstance(value, type):
        raise TypeError(
            f"{name} must be {expected}; got the class {value.__name__} (pass an "
            f"instance, {value.__name__}())."
        )
    missing = [
        m for m in ("get_params", *methods) if not callable(getattr(value, m, None))
    ]
    if missing:
        raise TypeError(
            f"{name} must be {expected}; got {value!r} of type "
            f"{type(value).__name__}, which has no {', '.join(missing)}."
        )


def reject_bool_numbers(estimator):
    """Refuse ``True``/``False`` for a numeric parameter of ``estimator``.

    ``bool`` is a subclass of ``int``, so scikit-learn's ``Interval`` constraints let
    ``n_kernels=True`` through as 1. Every parameter constrained by a numeric
    ``Interval`` and not also declared ``"boolean"`` is checked.

    Raises
    ------
    InvalidParameterError
        (a ``ValueError``) naming the parameter, what was expected and what was given.
    """
    params = estimator.get_params(deep=False)
    for name, constraints in estimator._parameter_constraints.items():
        value = params.get(name)
        if not isinstance(value, (bool, np.bool_)) or not isinstance(constraints, list):
            continue
        if "boolean" in constraints:
            continue
        numeric = [c for c in constraints if isinstance(c, Interval)]
        if numeric:
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be "
                f"{numeric[0]}; got {value!r} of type "
                f"{type(value).__name__} (a bool is not accepted where a number is "
                "meant)."
            )


def mean_and_std(X):
    """Per-feature mean and standard deviation of ``X`` in float64, without overflow.

    Every column is divided by a power of two near its largest magnitude first (exact,
    so ordinary data give the same bits as ``X.mean(0)``, ``X.std(0)``), so that data
    near the float64 limits (``1e300``) do not overflow in the squares.
    """
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        peak = np.max(np.abs(X), axis=0) if len(X) else np.ones(X.shape[1])
    peak[~((peak > 0) & np.isfinite(peak))] = 1.0
    power = np.ldexp(1.0, np.frexp(peak)[1])
    Y = X / power
    return Y.mean(axis=0) * power, Y.std(axis=0) * power


def store_init_params(estimator, arguments):
    """Store every argument of ``__init__`` unchanged under its own name.

    Call it as ``store_init_params(self, locals())`` as the only statement of an
    estimator's ``__init__``, which scikit-learn requires to do nothing else.
    """
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class AffineScaler(torch.nn.Module):
    """The affine map ``x -> (x - center) / scale``, per feature.

    Statistics are computed in float64 and applied in float64 on the host
    (:meth:`transform`, and :meth:`to_tensor` before data are cast to the network's
    float32) or, through the float32 buffers, on the network's device
    (:meth:`forward`). A feature whose scale is zero, or at most ``1e-12`` times its
    center (it varies only in the last digits of float64), gets scale 1, so it maps to
    a constant; the latter gives a ``UserWarning`` when ``name`` is given.

    Parameters
    ----------
    center, scale : array-like of shape (n_features,)
    name : str or None, default=None
        The argument the statistics come from, for the warning.
    stacklevel : int, default=1
        Of the warning, counted from the caller (1: the caller's line).
    """

    def __init__(self, center, scale, *, name=None, stacklevel=1):
        super().__init__()
        center = np.asarray(center, dtype=np.float64).copy()
        scale = np.asarray(scale, dtype=np.float64).copy()
        constant = ~(scale > _RELATIVE_PRECISION * np.abs(center))
        lost = np.flatnonzero(constant & (scale > 0))
        if name is not None and len(lost):
            j = lost[0]
            warnings.warn(
                f"{len(lost)} feature(s) of {name} (indices {lost.tolist()}) vary "
                f"only below working precision: their spread is at most "
                f"{_RELATIVE_PRECISION:g} times their magnitude (feature {j}: center "
                f"{float(center[j])!r}, spread {float(scale[j])!r}), so they are "
                "treated as "
                f"constant. Subtract the offset from {name} before fitting if the "
                "variation matters.",
                UserWarning,
                stacklevel=stacklevel + 1,
            )
        scale[constant] = 1.0
        self.center = center
        self.scale = scale
        self.register_buffer("center_t", torch.as_tensor(center, dtype=torch.float32))
        self.register_buffer("scale_t", torch.as_tensor(scale, dtype=torch.float32))

    @classmethod
    def standardize(cls, X, *, name=None, stacklevel=1):
        """Zero mean and unit variance over the frames of ``X`` (see
        :func:`mean_and_std`)."""
        mean, std = mean_and_std(X)
        return cls(mean, std, name=name, stacklevel=stacklevel + 1)

    @classmethod
    def from_range(cls, X, half_width=1.0, *, name=None, stacklevel=1):
        """Map the range of ``X`` onto ``[-half_width, half_width]``."""
        X = np.asarray(X, dtype=np.float64)
        # Halves first: the sum and difference cannot overflow.
        lo, hi = X.min(axis=0) / 2.0, X.max(axis=0) / 2.0
        return cls(
            hi + lo, (hi - lo) / half_width, name=name, stacklevel=stacklevel + 1
        )

    def transform(self, X):
        """Scaled copy of ``X`` in float64 (numpy)."""
        with np.errstate(over="ignore"):
            return (np.asarray(X, dtype=np.float64) - self.center) / self.scale

    def to_tensor(self, X, device, name, dtype=torch.float32):
        """``X`` scaled in float64, then as a tensor of ``dtype`` on ``device``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        device : torch.device or str
        name : str
            The argument ``X`` came from, for the error message.
        dtype : torch.dtype, default=torch.float32

        Raises
        ------
        ValueError
            When a scaled value lies beyond the float32 range (the networks
            compute in float32): such inputs are far outside anything seen in
            training and would become infinite.
        """
        X = np.asarray(X)
        S = self.transform(X)
        bad = ~(np.abs(S) <= _FLOAT32_MAX)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{name} holds {int(bad.sum())} value(s) beyond the float32 range "
                f"(|x| <= {_FLOAT32_MAX:.3g}) after standardisation with the "
                "training statistics, which the networks (float32) cannot "
                f"represent; for instance {float(X[i, j])!r} in feature {j} becomes "
                f"{float(S[i, j])!r} (center {float(self.center[j])!r}, scale "
                f"{float(self.scale[j])!r}). Pass {name} in the units and range of "
                "the training data."
            )
        return as_tensor(S, device, dtype)

    def inverse_transform(self, Y):
        """Back to the user's units, float64 (numpy)."""
        return np.asarray(Y, dtype=np.float64) * self.scale + self.center

    def forward(self, x):
        return (x - self.center_t) / self.scale_t

    def inverse(self, y):
        return torch.addcmul(self.center_t, y, self.scale_t)

    @property
    def log_abs_det(self):
        """``sum(log(scale))``: the log-Jacobian of :meth:`inverse_transform`."""
        return float(np.sum(np.log(self.scale)))


@dataclass
class FitData:
    """What a subclass's ``_check_fit_data`` found: sizes, names and arrays."""

    n_features_in: int
    feature_names_in: object = None
    arrays: dict = field(default_factory=dict)


@dataclass
class TrainingPlan:
    """How to train the modules: the arguments of :func:`sklss._training.train`."""

    step: object
    n_samples: int
    optimizers: list
    batch_size: int
    validate: object = None
    early_stopping: bool = True
    callbacks: list = field(default_factory=list)
    # For data streamed from disk: the minibatches of one epoch (see train).
    batches: object = None
    # Training state held in modules (a weight average): snapshotted and restored
    # with the model's modules, never assigned to the estimator.
    extra_modules: dict = field(default_factory=dict)
    # Fitted attributes known before the main training (the learning curve of a
    # preliminary fit), for ``_finalize`` to return.
    fitted: dict = field(default_factory=dict)

    def final(self, module):
        """The module to keep after training: the weight average of ``module``
        where a :class:`WeightAveraging` callback kept one, else ``module``."""
        for callback in self.callbacks:
            if isinstance(callback, WeightAveraging) and callback.module is module:
                return callback.average.module
        return module


class WeightAveraging(Callback):
    """Exponential moving average of a module's weights (Yazıcı et al. 2019).

    Updated after every ``every``-th optimisation step (the generator updates of a
    GAN) with decay ``min(ema_decay, (1 + t) / (10 + t))`` at update ``t``, so that
    short fits are not dominated by the initial weights; the average starts at the
    initial weights. ``average.module`` is the averaged copy.
    """

    def __init__(self, module, ema_decay, every=1):
        self.ema_decay, self.every = ema_decay, every
        self.n_batches = 0
        self.average = torch.optim.swa_utils.AveragedModel(
            module, multi_avg_fn=self._lerp
        ).requires_grad_(False)
        self.module = module
        self.average.update_parameters(module)  # a copy of the initial weights

    def _lerp(self, averaged, current, n_averaged):
        t = self.n_batches // self.every
        weight = 1.0 - min(self.ema_decay, (1 + t) / (10 + t))
        for a, c in zip(averaged, current, strict=True):
            a.lerp_(c, weight)

    def on_batch_end(self, losses):
        self.n_batches += 1
        if self.n_batches % self.every == 0:
            self.average.update_parameters(self.module)


class LinearDecay(Callback):
    """Decay the learning rate of ``optimizers`` linearly to zero over ``n_steps``."""

    def __init__(self, optimizers, n_steps):
        self.groups = [group for opt in optimizers for group in opt.param_groups]
        self.initial = [group["lr"] for group in self.groups]
        self.n_steps, self.k = n_steps, 0

    def on_batch_end(self, losses):
        self.k += 1
        factor = max(0.0, 1.0 - self.k / self.n_steps)
        for group, lr in zip(self.groups, self.initial, strict=True):
            group["lr"] = lr * factor

    def on_epoch_end(self, record):
        record["learning_rate"] = self.groups[0]["lr"]
        return False


class BaseNetwork(TorchEstimatorMixin, BaseEstimator):
    """Base class of the sklss network estimators (not for direct use).

    Shared parameters: ``hidden_layer_sizes``, ``activation``,
    ``learning_rate_init``, ``learning_rate`` (the schedule), ``batch_size``,
    ``max_epochs``, ``warm_start``, ``callbacks``, ``random_state``, ``device``,
    ``verbose``, and for the networks with early stopping ``validation_fraction``,
    ``n_iter_no_change`` and ``tol``.

    Fitted attributes of every network: ``history_``, ``n_epochs_``,
    ``converged_``, ``device_``, ``n_features_in_`` (and ``feature_names_in_``).
    """

    _parameter_constraints = {
        "hidden_layer_sizes": [
            "array-like",
            Interval(numbers.Integral, 1, None, closed="left"),
        ],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        # A float is the former spelling of learning_rate_init (deprecated).
        "learning_rate": [
            StrOptions(set(_SCHEDULES)),
            Interval(numbers.Real, 0, None, closed="neither"),
        ],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "warm_start": ["boolean"],
        "callbacks": [list, tuple, None],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    # Names of the parameters that fix the shapes of the networks: warm_start can
    # only continue from a fit with the same values.
    _architecture_params = ("hidden_layer_sizes", "activation")
    # The fitted attributes that hold modules (continued by warm_start).
    _module_attributes = ()
    # The parameters that fix how many weights the networks have (named when the
    # networks would not fit in memory).
    _size_params = ("hidden_layer_sizes",)
    # The schedule used when learning_rate is given in its former (float) spelling.
    _default_schedule = "constant"

    # ----------------------------------------------------------------- template

    def _fit(self, X, y=None):
        """Validate, build or reuse, train, then assign all fitted state at once.

        Raises
        ------
        TypeError
            When ``hidden_layer_sizes`` is not a sequence, an entry of
            ``callbacks`` is not callable, or the data are not array-like.
        ValueError
            When a parameter or the data are invalid, or the networks would not
            fit in memory (checked before they are built).
        TrainingDivergedError
            When training diverged. The estimator is left as it was before ``fit``
            (unfitted, or with its previous fit unchanged); the error carries the
            ``history`` and, when at least one epoch before the failure was good,
            ``partial_estimator``: a fitted copy with the weights a normal end of
            training would have kept from those epochs, marked ``converged_ =
            False`` (None otherwise).
        """
        # Inside joblib or Dask workers (a parallel grid search, an ensemble):
        # torch's threads sized to this worker's share of the cores.
        limit_threads_in_worker()
        device = resolve_device(self.device)
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        learning_rate, schedule = self._resolve_learning_rate()
        user_callbacks = self._check_callbacks()
        data = self._check_fit_data(X, y)
        self._check_network_size(data, hidden)
        seed = seed_from_random_state(self.random_state)
        modules = self._warm_start_modules(data)
        if modules is None:
            with seeded(seed):
                modules = self._build(data, hidden)
        modules = {name: m.float().to(device) for name, m in modules.items()}

        # One generator for the validation split (drawn in the plan) and then the
        # minibatch order.
        generator = torch_generator(seed)
        plan = self._training_plan(
            modules, data, device, seed=seed, generator=generator, lr=learning_rate
        )
        callbacks = list(plan.callbacks)
        if schedule == "linear":
            n_batches = max(1, math.ceil(plan.n_samples / plan.batch_size))
            callbacks.append(LinearDecay(plan.optimizers, self.max_epochs * n_batches))
        callbacks += [EpochEndCallback(f) for f in user_callbacks]
        try:
            history, converged = train(
                modules={**modules, **plan.extra_modules},
                step=plan.step,
                n_samples=plan.n_samples,
                batch_size=plan.batch_size,
                max_epochs=self.max_epochs,
                generator=generator,
                validate=plan.validate,
                early_stopping=plan.early_stopping,
                n_iter_no_change=getattr(self, "n_iter_no_change", 10),
                tol=getattr(self, "tol", 1e-4),
                device=device,
                verbose=self.verbose,
                desc=f"{type(self).__name__}.fit",
                callbacks=callbacks,
                batches=plan.batches,
            )
        except TrainingDivergedError as error:
            error.partial_estimator = self._partial_estimator(
                modules, data, device, plan, error.history
            )
            error.args = (
                f"{error.args[0]} The {type(self).__name__} was left as it was "
                "before fit; "
                + (
                    "error.partial_estimator holds a fitted copy with the weights "
                    "of the epochs before."
                    if error.partial_estimator is not None
                    else "no epoch completed without diverging."
                ),
            )
            raise
        try:
            fitted = self._fitted_state(modules, data, device, plan, history, converged)
        except TrainingDivergedError as error:
            error.history = history
            error.partial_estimator = None
            raise
        self._set_fitted(fitted, data)
        return self

    def _fitted_state(self, modules, data, device, plan, history, converged):
        """Every fitted attribute of a training that ended, as a dict."""
        fitted = dict(modules)
        fitted.update(self._finalize(modules, data, device, plan))
        fitted.update(
            history_=history,
            n_epochs_=len(history),
            converged_=converged,
            device_=str(device),
            n_features_in_=data.n_features_in,
            _fitted_architecture=self._architecture(),
        )
        return fitted

    def _set_fitted(self, fitted, data):
        """Assign the fitted state (the only place ``fit`` touches ``self``)."""
        for name, value in fitted.items():
            setattr(self, name, value)
        if data.feature_names_in is not None:
            self.feature_names_in_ = data.feature_names_in
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _partial_estimator(self, modules, data, device, plan, history):
        """A fitted copy from the good epochs of a diverged training, or None."""
        if history is None or len(history) < 2:
            return None
        try:
            fitted = self._fitted_state(
                modules, data, device, plan, list(history), converged=False
            )
        except TrainingDivergedError:
            return None
        partial = clone(self)
        partial._set_fitted(fitted, data)
        return partial

    def _validate_params(self):
        super()._validate_params()
        reject_bool_numbers(self)

    # ------------------------------------------------------------------ helpers

    def _check_callbacks(self):
        """The ``callbacks`` as a list, every entry checked to be callable.

        Raises
        ------
        TypeError
            An entry of ``callbacks`` is not callable.
        """
        callbacks = list(self.callbacks or ())
        for i, f in enumerate(callbacks):
            if not callable(f):
                raise TypeError(
                    "callbacks must be a list of callables f(record) -> bool; "
                    f"callbacks[{i}] is {f!r} of type {type(f).__name__}."
                )
        return callbacks

    def _check_network_size(self, data, hidden):
        """Refuse networks whose weights would not fit in memory, before building.

        Raises
        ------
        ValueError
            The networks for these ``hidden_layer_sizes`` (and the other size
            parameters of the estimator) would need more memory than is available.
        """
        params = self.get_params(deep=False)
        sizes = {name: params[name] for name in self._size_params}
        sizes["hidden_layer_sizes"] = hidden
        n_bytes = _BYTES_PER_PARAMETER * self._n_parameters(data, hidden)
        check_fits_in_memory(n_bytes, sizes)

    @staticmethod
    def _check_float32(value, name):
        """Refuse a positive number the networks' float32 arithmetic cannot hold.

        Raises
        ------
        ValueError
            ``value`` exceeds the largest float32 (about 3.4e38).
        """
        if value > _FLOAT32_MAX:
            raise ValueError(
                f"{name} must be at most {_FLOAT32_MAX:.4g}, the largest float32 "
                f"(the networks train in float32); got {value!r}."
            )
        return float(value)

    def _resolve_learning_rate(self):
        """``(learning_rate_init, schedule)``, accepting the former float spelling.

        Raises
        ------
        ValueError
            The step size exceeds the float32 range.
        """
        if isinstance(self.learning_rate, str):
            lr = self._check_float32(self.learning_rate_init, "learning_rate_init")
            return lr, self.learning_rate
        self._check_float32(self.learning_rate, "learning_rate")
        warnings.warn(
            f"{type(self).__name__}: a number for learning_rate is deprecated and "
            "will be an error in sklss 0.3; the step size is now learning_rate_init "
            f"(learning_rate names the schedule: {' or '.join(_SCHEDULES)}). Using "
            f"learning_rate_init={self.learning_rate!r} and the default schedule "
            f"{self._default_schedule!r}.",
            FutureWarning,
            stacklevel=5,
        )
        return float(self.learning_rate), self._default_schedule

    def _architecture(self):
        params = self.get_params(deep=False)
        return {name: params[name] for name in self._architecture_params}

    def _continues_previous_fit(self):
        """True when ``fit`` starts from the previous fit's networks."""
        return bool(self.warm_start) and hasattr(self, "_fitted_architecture")

    def _warm_start_modules(self, data):
        """Copies of the fitted modules when ``warm_start`` applies, else None.

        Copies, so that a ``fit`` that fails leaves the previous fit intact.
        """
        if not self._continues_previous_fit():
            return None
        previous = self._fitted_architecture
        current = self._architecture()
        changed = [
            name
            for name in current
            if _normalise(current[name]) != _normalise(previous.get(name))
        ]
        if changed or data.n_features_in != self.n_features_in_:
            what = ", ".join(
                f"{name}={current[name]!r} (fitted with {previous.get(name)!r})"
                for name in changed
            ) or (
                f"the data have {data.n_features_in} features (fitted with "
                f"{self.n_features_in_})"
            )
            raise ValueError(
                f"warm_start=True continues the previous fit, but {what}; the "
                "networks cannot be reused. Set warm_start=False to start anew."
            )
        # Fitted networks may be frozen (an averaged generator): train them again.
        return {
            name: copy.deepcopy(getattr(self, name)).requires_grad_(True)
            for name in self._module_attributes
            if getattr(self, name, None) is not None
        }

    def _streamed_plan(
        self,
        pairs,
        scaler,
        device,
        generator,
        *,
        update,
        outputs,
        evaluate,
        optimizers,
        reverse=False,
    ):
        """The training plan for time-lagged pairs streamed from disk.

        ``pairs`` is a :class:`sklss._store.PairBlocks`. Whole blocks are held out
        for validation (``validation_fraction`` of them); an epoch reads the
        training blocks a few at a time in a random order and draws minibatches
        from their shuffled pairs (each pair also reversed when ``reverse``).
        ``update(A, B)`` is the optimisation step on scaled tensors;
        ``outputs(A, B)`` gives a tuple of tensors per validation block, and
        ``evaluate(*outputs)`` the validation loss from their concatenations.
        """
        train_blocks, val_blocks = pairs.split(self.validation_fraction, generator)
        n_train = sum(b - a for _, a, b in train_blocks) * (2 if reverse else 1)
        batch_size = min(self.batch_size, n_train)

        def tensors(A, B):
            return (
                scaler.to_tensor(A, device, pairs.name),
                scaler.to_tensor(B, device, pairs.name),
            )

        def batches():
            for A, B in pairs.minibatches(
                train_blocks, batch_size, generator, reverse=reverse
            ):
                yield tensors(A, B)

        validate = None
        if val_blocks is not None:

            def validate():
                parts = []
                with torch.inference_mode():
                    for block in val_blocks:
                        A, B = tensors(*pairs.read(block))
                        parts.append(outputs(A, B))
                        if reverse:
                            parts.append(outputs(B, A))
                    return evaluate(*(torch.cat(p) for p in zip(*parts, strict=True)))

        return TrainingPlan(
            step=lambda batch: update(*batch),
            n_samples=n_train,
            optimizers=optimizers,
            batch_size=batch_size,
            validate=validate,
            batches=batches,
        )

    @staticmethod
    def _fit_data(trajs, **arrays):
        """A :class:`FitData` from validated trajectories."""
        return FitData(
            n_features_in=trajs.n_features,
            feature_names_in=trajs.feature_names,
            arrays=arrays,
        )

    def _device(self):
        return torch.device(self.device_)


def _normalise(value):
    """Compare parameters such as ``(100, 100)`` and ``[100, 100]`` as equal."""
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(v) for v in value)
    return value
