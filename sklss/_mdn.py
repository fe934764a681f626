"""The mixture density network propagator of a latent space simulator (paper §2.2)."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _deprecate_positional_args, check_is_fitted

from ._base import (
    FIT_STACKLEVEL,
    AffineScaler,
    BaseNetwork,
    TrainingPlan,
    WeightAveraging,
    store_init_params,
)
from ._data import (
    check_fits_in_memory,
    check_int,
    check_random_state_named,
    check_real,
    check_real_array,
    check_trajectories,
    lagged_pairs,
    mirror,
    usable_trajectories,
)
from ._store import PairBlocks, frame_statistics, is_lazy
from ._torch import (
    NUMPY_ACTIVATIONS,
    BufferedForward,
    activation_name,
    make_mlp,
    mlp_parameter_count,
    seed_from_random_state,
    torch_generator,
)
from ._training import train_validation_split

__all__ = ["MDNPropagator"]

# Internally each latent component is mapped to [-1, 1] over the training range. The
# bounded means span [-1 - margin, 1 + margin], i.e. they can reach 5 % of the
# training range beyond the data on either side (a mean bounded to exactly the data
# range could never reproduce the edge of the distribution).
_MEAN_MARGIN = 0.1
# Lower bound on every kernel's standard deviation (internal units, range 2): keeps
# the likelihood bounded when a kernel collapses onto a few training points.
_SIGMA_MIN = 1e-3
# Upper bound on every kernel's standard deviation (internal units): twice the
# training range. Wider kernels describe nothing the data could show, and without a
# bound a network that extrapolates could sample infinite or NaN frames.
_SIGMA_MAX = 4.0
# Random numbers and output frames are produced in chunks of about this many scalars.
_CHUNK_SCALARS = 1 << 18
# Up to this many parallel trajectories the CPU sampler runs on numpy/BLAS, whose
# per-call overhead is a few times smaller than torch's (see benchmarks/bench_mdn.py).
_NUMPY_MAX_TRAJECTORIES = 512
_LOG_2PI = float(np.log(2.0 * np.pi))


def _np_softplus(x):
    return np.logaddexp(x, np.float32(0.0))


def _kernel_parameters(mean_pre, scale_pre, xp=torch):
    """Kernel means and standard deviations (internal units) from the network's
    pre-activations; ``xp`` is ``torch`` (training, densities, batched torch
    sampling) or ``numpy`` (the CPU samplers).

    The means are bounded to ``±(1 + _MEAN_MARGIN)``, ``(1 + m) tanh(x / 2)``; the
    standard deviations are ``min(softplus(x), _SIGMA_MAX - _SIGMA_MIN) +
    _SIGMA_MIN``, between ``_SIGMA_MIN`` and ``_SIGMA_MAX``, so that every sampled
    frame is finite.
    """
    if xp is torch:
        # 0-d CPU tensors (usable with tensors on any device): Python numbers
        # would be converted on every call, a cost in the sampler's step loop.
        half, reach, low = _TORCH_CONSTANTS
        mean = torch.tanh(mean_pre * half) * reach
        spread = torch.nn.functional.softplus(scale_pre).clamp(
            max=_SIGMA_MAX - _SIGMA_MIN
        )
        return mean, spread + low
    mean = np.tanh(mean_pre * np.float32(0.5)) * np.float32(1.0 + _MEAN_MARGIN)
    spread = np.minimum(_np_softplus(scale_pre), np.float32(_SIGMA_MAX - _SIGMA_MIN))
    return mean, spread + np.float32(_SIGMA_MIN)


_TORCH_CONSTANTS = tuple(
    torch.tensor(v, dtype=torch.float32) for v in (0.5, 1.0 + _MEAN_MARGIN, _SIGMA_MIN)
)


class MDNPropagator(BaseNetwork):
    """Mixture density network propagator of latent dynamics.

    Learns the transition density of a latent trajectory at lag ``lagtime``,

    ``p(z' | z) = sum_c alpha_c(z) N(z'; mu_c(z), diag sigma_c(z)^2)``, with
    ``z = z_t`` and ``z' = z_{t+tau}``,

    with a feed-forward network that outputs, for every kernel ``c``, a softmax
    weight ``alpha_c``, a sigmoid-bounded mean ``mu_c`` and a bounded positive
    standard deviation ``sigma_c`` per component (Sidky et al. 2020, §2.2; between
    0.05 % and twice the training range, so that sampled frames stay finite). It is
    trained by maximum likelihood with early stopping on a validation split, and
    sampled to generate new, long latent trajectories.

    Parameters
    ----------
    lagtime : int, default=1
        Lag ``tau`` of the learned transitions, in frames; the frames of
        :meth:`sample` are ``lagtime`` frames apart.
    n_kernels : int, default=24
        Number of Gaussian kernels ``C`` in the mixture. 24, the paper's size for
        proteins, represents the joint law of a molecule's slow and structural
        coordinates, which 8 kernels did not (alanine dipeptide); on the exact
        one- and two-dimensional systems of the user guide's "Checking the
        thermodynamics" 8 and 24 were equally accurate.
    reversible : bool, default=False
        Train on every transition in both directions, ``z_t -> z_{t+tau}`` and
        ``z_{t+tau} -> z_t``. Equilibrium MD obeys detailed balance, so the joint
        distribution of the pairs is symmetric; training on the symmetrised pairs
        makes the learned chain's stationary distribution the marginal of the data
        (for a perfectly fitted density), which keeps the thermodynamics of long
        generated runs from drifting. Use it for equilibrium data only (not for
        driven or non-stationary dynamics). The validation transitions are held
        out before the reversal, so no reversed copy of a training pair validates.
    hidden_layer_sizes : tuple of int, default=(100, 100)
        Widths of the hidden layers.
    activation : {"relu", "tanh", "swish", "silu", "elu", "gelu", "leaky_relu", \
"sigmoid", "identity"}, default="relu"
        Activation of the hidden layers.
    learning_rate_init : float, default=1e-3
        Initial Adam learning rate.
    learning_rate : {"constant", "linear"}, default="constant"
        Learning-rate schedule: constant, or decaying linearly to zero over
        ``max_epochs``. (A float here is the former spelling of
        ``learning_rate_init``; deprecated.)
    batch_size : int, default=512
        Minibatch size (in transitions).
    max_epochs : int, default=200
        Maximum number of passes over the training transitions.
    validation_fraction : float, default=0.1
        Fraction of the transitions held out for early stopping (0 monitors the
        training loss instead).
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of the validation loss by
        at least ``tol``; the best weights are restored.
    tol : float, default=1e-4
        Minimum improvement of the validation loss (nats per transition).
    ema_decay : float in [0, 1), default=0.999
        Decay of an exponential moving average of the weights, updated after every
        minibatch (with a warm-up, ``min(ema_decay, (1 + t) / (10 + t))`` at step
        ``t``). The average is what is validated, early-stopped and kept; 0 keeps
        the last weights instead. See Notes.
    warm_start : bool, default=False
        Continue from the weights (and internal scaling) of the previous ``fit``
        instead of initialising anew, as scikit-learn's MLP does. The previous fit
        must have the same network shape and latent dimension.
    callbacks : list of callable or None, default=None
        Functions ``f(record)`` called at the end of every epoch with its history
        row (a dict); returning True stops training.
    random_state : int, RandomState instance or None, default=None
        Seed of weight initialisation, validation split and minibatches.
    device : {"cpu", "cuda", "cuda:N", "auto"} or torch.device, default="cpu"
        Where the network is trained and sampled.
    verbose : bool, default=False
        Progress bars for training and sampling.

    Attributes
    ----------
    n_features_in_ : int
        Number of latent components seen in :meth:`fit`.
    n_components_in_ : int
        Alias of ``n_features_in_`` (the latent dimension).
    network_ : torch.nn.Module
        The trained network (outputs of the last layer: ``n_kernels`` logits, then
        ``n_kernels * n_components`` mean and as many scale pre-activations).
    data_min_, data_max_ : ndarray of shape (n_components,)
        Range of the training frames per component. The kernel means can reach 5 %
        of this range beyond it.
    scaler_ : AffineScaler
        The map of the training range onto ``[-1, 1]`` (the network's units).
    history_ : list of dict
        Learning curve, one entry per epoch (``loss`` and ``val_loss`` are negative
        mean log-likelihoods per transition in the user's units).
    n_epochs_ : int
        Number of epochs run.
    converged_ : bool
        Whether early stopping ended training (else ``max_epochs`` ran out and a
        ``ConvergenceWarning`` was raised).
    device_ : str
        The device the network lives on.

    See Also
    --------
    sklss.SRVTransformer : learns the latent space this propagator runs in.

    Notes
    -----
    Internally every component is scaled affinely to [-1, 1] over the training
    range; inputs, outputs, densities and scores are all in the user's units (the
    Jacobian of the scaling is included in every log-likelihood).

    **Populations.** A long generated run repeats the learned step thousands of
    times, so a small error of the transition density that is the same at every
    step shifts the stationary populations. Minibatch gradient noise leaves such an
    error in the last weights of a training, and the weight average (the
    default ``ema_decay``) removes most of it. On systems with exact stationary
    laws it reduced the total-variation distance of long generated runs to the
    exact law 2-9 fold on one-dimensional systems (the user guide's "Checking the
    thermodynamics" gives the study).

    :meth:`score` is the mean log-likelihood per held-out transition, in nats,
    ``mean log p(z_{t+tau} | z_t)``. It is a density in the user's units, so it is
    comparable across ``n_kernels``, ``hidden_layer_sizes`` and the other network
    settings at a fixed ``lagtime`` and a fixed latent space; it is not comparable
    across different lag times (longer lags give broader, lower densities) or
    latent spaces of different dimension or scaling.

    References
    ----------
    H. Sidky, W. Chen and A. L. Ferguson, "Molecular latent space simulators",
    Chem. Sci. 11, 9459 (2020). C. M. Bishop, "Mixture density networks" (1994).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss import MDNPropagator
    >>> rng = np.random.default_rng(0)
    >>> Z = np.cumsum(rng.normal(size=(500, 2)), axis=0) * 0.1
    >>> mdn = MDNPropagator(n_kernels=3, max_epochs=5, random_state=0)
    >>> mdn = mdn.fit(Z)
    >>> mdn.sample(Z[0], n_steps=100, random_state=0).shape
    (101, 2)
    >>> mdn.sample(Z[:10], n_steps=100, random_state=0).shape
    (10, 101, 2)
    """

    _parameter_constraints = {
        **BaseNetwork._parameter_constraints,
        "lagtime": [Interval(Integral, 1, None, closed="left")],
        "n_kernels": [Interval(Integral, 1, None, closed="left")],
        "reversible": ["boolean"],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
    }
    _architecture_params = ("hidden_layer_sizes", "activation", "n_kernels")
    _size_params = ("hidden_layer_sizes", "n_kernels")
    _module_attributes = ("network_", "scaler_")
    # Saved before weight averaging existed: the last weights were kept.
    _added_params = {"ema_decay": 0.0}

    def __init__(
        self,
        lagtime=1,
        *,
        n_kernels=24,
        reversible=False,
        hidden_layer_sizes=(100, 100),
        activation="relu",
        learning_rate_init=1e-3,
        learning_rate="constant",
        batch_size=512,
        max_epochs=200,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        ema_decay=0.999,
        warm_start=False,
        callbacks=None,
        random_state=None,
        device="cpu",
        verbose=False,
    ):
        store_init_params(self, locals())

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, Z, y=None):
        """Learn the transition density from one latent trajectory or a list.

        Parameters
        ----------
        Z : array-like of shape (n_frames, n_components) or list of such
            Latent trajectories; transitions are formed within each trajectory.
        y : None
            Ignored.

        Returns
        -------
        self : MDNPropagator
            The fitted propagator.

        Raises
        ------
        TypeError
            When ``Z`` is not array-like, or an entry of ``callbacks`` is not
            callable.
        ValueError
            When ``Z`` is invalid (non-finite values, too short for ``lagtime``),
            a parameter is (a bool given for a number, for instance, or
            ``learning_rate_init`` beyond the float32 range), or the network would
            not fit in memory. The estimator is left as it was.
        TrainingDivergedError
            When the loss or a weight became NaN or infinite (a ``ValueError``
            too). The estimator is left as it was;
            the error carries ``history`` and ``partial_estimator`` (see
            :class:`~sklss.exceptions.TrainingDivergedError`).

        Warns
        -----
        ConvergenceWarning
            When ``max_epochs`` ran out, the validation loss never improved on the
            first epoch, or training was interrupted (``KeyboardInterrupt`` after
            the first epoch keeps the best weights so far and sets ``converged_``
            to False).
        UserWarning
            When components of ``Z`` vary only below float64 working precision
            relative to their magnitude (they are treated as constant).
        """
        return self._fit(Z)

    def _check_fit_data(self, Z, y):
        trajs = check_trajectories(None, Z, reset=True, name="Z", n_features_attr=None)
        if is_lazy(trajs):
            # Trajectories read from disk: pairs are streamed block by block.
            usable_trajectories(
                trajs, self.lagtime, name="Z", estimator_name=type(self).__name__
            )
            stats = frame_statistics(trajs, "Z", min_length=self.lagtime + 1)
            pairs = PairBlocks(trajs, self.lagtime, name="Z")
            return self._fit_data(
                trajs, pairs=pairs, data_min=stats.min, data_max=stats.max
            )
        Z0, Z1 = lagged_pairs(
            trajs, self.lagtime, name="Z", estimator_name=type(self).__name__
        )
        lo = np.minimum(Z0.min(axis=0), Z1.min(axis=0)).astype(np.float64)
        hi = np.maximum(Z0.max(axis=0), Z1.max(axis=0)).astype(np.float64)
        return self._fit_data(trajs, Z0=Z0, Z1=Z1, data_min=lo, data_max=hi)

    def _n_parameters(self, data, hidden):
        d = data.n_features_in
        return mlp_parameter_count(d, hidden, self.n_kernels * (1 + 2 * d))

    def _build(self, data, hidden):
        d = data.n_features_in
        network = make_mlp(
            d, hidden, self.n_kernels * (1 + 2 * d), activation=self.activation
        )
        lo, hi = data.arrays["data_min"], data.arrays["data_max"]
        # A constant component gets unit scale (its transitions are then a narrow
        # kernel around the constant).
        scaler = AffineScaler.from_range([lo, hi], name="Z", stacklevel=FIT_STACKLEVEL)
        return {"network_": network, "scaler_": scaler}

    def _training_plan(self, modules, data, device, *, seed, generator, lr):
        network, scaler = modules["network_"], modules["scaler_"]
        optimizer = torch.optim.Adam(network.parameters(), lr=lr)
        log_jac = scaler.log_abs_det
        K = self.n_kernels
        # With weight averaging, the average is what is validated and kept.
        averaging = None
        if self.ema_decay > 0:
            averaging = WeightAveraging(network, self.ema_decay)
        model = network if averaging is None else averaging.average.module

        def update(A, B):
            optimizer.zero_grad(set_to_none=True)
            loss = -_log_prob(network, K, A, B).mean()
            loss.backward()
            optimizer.step()
            return {"loss": loss.item() + log_jac}

        def evaluate(lp):
            return -lp.mean().item() + log_jac

        if "pairs" in data.arrays:
            plan = self._streamed_plan(
                data.arrays["pairs"],
                scaler,
                device,
                generator,
                update=update,
                outputs=lambda A, B: (_chunked_log_prob(model, K, A, B),),
                evaluate=evaluate,
                optimizers=[optimizer],
                reverse=self.reversible,
            )
        else:
            W0 = scaler.to_tensor(data.arrays["Z0"], device, "Z")
            W1 = scaler.to_tensor(data.arrays["Z1"], device, "Z")
            train_idx, val_idx = train_validation_split(
                len(W0), self.validation_fraction, generator
            )
            train_idx = train_idx.to(device)
            X0, X1 = W0[train_idx], W1[train_idx]
            if self.reversible:
                X0, X1 = torch.cat([X0, X1]), torch.cat([X1, X0])

            def step(idx):
                return update(X0[idx], X1[idx])

            validate = None
            if val_idx is not None:
                val_idx = val_idx.to(device)
                V0, V1 = W0[val_idx], W1[val_idx]
                if self.reversible:
                    V0, V1 = torch.cat([V0, V1]), torch.cat([V1, V0])

                def validate():
                    with torch.no_grad():
                        return evaluate(_chunked_log_prob(model, K, V0, V1))

            plan = TrainingPlan(
                step=step,
                n_samples=len(X0),
                optimizers=[optimizer],
                batch_size=min(self.batch_size, len(X0)),
                validate=validate,
            )
        if averaging is not None:
            plan.callbacks.append(averaging)
            # Snapshotted and restored with the network (best epoch, divergence).
            plan.extra_modules["network_average"] = averaging.average
        return plan

    def _finalize(self, modules, data, device, plan):
        fitted = {
            "data_min_": data.arrays["data_min"],
            "data_max_": data.arrays["data_max"],
        }
        network = plan.final(modules["network_"])
        if network is not modules["network_"]:
            fitted["network_"] = network
        network.eval()
        return fitted

    @property
    def n_components_in_(self):
        """Number of latent components (alias of ``n_features_in_``)."""
        check_is_fitted(self)
        return self.n_features_in_

    # ------------------------------------------------------- internal densities

    def _to_internal(self, Z):
        return self.scaler_.transform(Z)

    def _mixture(self, W0):
        """Log-weights, means and standard deviations in internal units."""
        return _mixture(self.network_, self.n_kernels, W0)

    def _check_points(self, z, name):
        """Validate user points of shape (n, d) or (d,) -> 2-D float64 array.

        Raises
        ------
        TypeError
            ``z`` is not an array-like of real numbers.
        ValueError
            ``z`` is ragged, has another shape, no points, non-finite values or
            another number of components than the training data. Every message
            names ``name``.
        """
        # NaN is left to check_trajectories, whose message is the common one.
        arr = check_real_array(z, name, allow_nan=True)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must have shape (n_components,) or (n_points, n_components); "
                f"got an array of shape {arr.shape}."
            )
        (arr,) = check_trajectories(
            None, arr, reset=False, name=name, n_features_attr=None
        )
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {arr.shape[1]} components, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} components."
            )
        return arr

    def _log_prob(self, A, B, name_from, name_to):
        """``log p(B | A)`` in the user's units for validated points of equal count.

        The names are those of the arguments ``A`` and ``B`` came from, for the
        error about values beyond the float32 range.
        """
        device = torch.device(self.device_)
        with torch.inference_mode():
            lp = _chunked_log_prob(
                self.network_,
                self.n_kernels,
                self.scaler_.to_tensor(A, device, name_from),
                self.scaler_.to_tensor(B, device, name_to),
            )
        lp = lp.cpu().numpy() - self.scaler_.log_abs_det
        self._check_finite_output(lp, A, name_from)
        return lp

    def _check_finite_output(self, values, points, name):
        """Refuse points whose mixture the network cannot compute finitely.

        Raises
        ------
        ValueError
            Naming ``name`` and the first such point: far outside the training
            range, the network's float32 arithmetic overflows.
        """
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} holds {int(bad.sum())} point(s) so far from the training "
                f"range ({self.data_min_.tolist()} to {self.data_max_.tolist()}) "
                "that the network's outputs overflow to non-finite values; for "
                f"instance {name}[{i}] = {points[i].tolist()}. Pass points in the "
                "range of the training data."
            )

    # ------------------------------------------------------------ public API

    def log_prob(self, z_from, z_to):
        """Log-density ``log p(z_to | z_from)`` of the learned transition (at lagtime).

        Parameters
        ----------
        z_from, z_to : array-like of shape (n_points, n_components) or (n_components,)
            Pairs of start and end points (row ``i`` of each forms a pair; a single
            point is broadcast against the other argument).

        Returns
        -------
        ndarray of shape (n_points,)
            Log-density in the user's units (float64), i.e. including the Jacobian
            of the internal scaling.

        Raises
        ------
        TypeError
            When a point is not an array-like of real numbers.
        ValueError
            When a point has the wrong shape or non-finite values, or lies so far
            from the training range that it is beyond the float32 range in the
            network's units.
        """
        check_is_fitted(self)
        A = self._check_points(z_from, "z_from")
        B = self._check_points(z_to, "z_to")
        if len(A) != len(B):
            if len(A) == 1:
                A = np.broadcast_to(A, B.shape)
            elif len(B) == 1:
                B = np.broadcast_to(B, A.shape)
            else:
                raise ValueError(
                    f"z_from and z_to must hold the same number of points; got "
                    f"{len(A)} and {len(B)}."
                )
        return self._log_prob(A, B, "z_from", "z_to")

    def transition_density(self, z_from, z_to):
        """The learned density ``p(z_to | z_from)`` on every combination of points.

        Convenient for plotting transition densities (e.g. paper Fig. 2c-d).

        Parameters
        ----------
        z_from : array-like of shape (n_from, n_components)
        z_to : array-like of shape (n_to, n_components)

        Returns
        -------
        ndarray of shape (n_from, n_to)
            ``p(z_to[j] | z_from[i])`` in the user's units.

        Raises
        ------
        TypeError
            When a point is not an array-like of real numbers.
        ValueError
            When a point has the wrong shape or non-finite values, or lies so far
            from the training range that the network cannot evaluate it.
        """
        check_is_fitted(self)
        A = self._check_points(z_from, "z_from")
        B = self._check_points(z_to, "z_to")
        rows = [
            np.exp(self._log_prob(np.broadcast_to(a, B.shape), B, "z_from", "z_to"))
            for a in A
        ]
        return np.stack(rows)

    def mixture_parameters(self, z_from):
        """Weights, means and standard deviations of the mixture at ``z_from``.

        Parameters
        ----------
        z_from : array-like of shape (n_points, n_components) or (n_components,)

        Returns
        -------
        weights : ndarray of shape (n_points, n_kernels)
            Mixture weights (rows sum to 1).
        means, stds : ndarray of shape (n_points, n_kernels, n_components)
            Kernel means and standard deviations in the user's units.

        Raises
        ------
        TypeError
            When ``z_from`` is not an array-like of real numbers.
        ValueError
            When ``z_from`` has the wrong shape or non-finite values, or lies so
            far from the training range that the network cannot evaluate it.
        """
        check_is_fitted(self)
        A = self._check_points(z_from, "z_from")
        device = torch.device(self.device_)
        with torch.inference_mode():
            log_alpha, mu, sigma = self._mixture(
                self.scaler_.to_tensor(A, device, "z_from")
            )
        weights = log_alpha.double().exp().cpu().numpy()
        means = self.scaler_.inverse_transform(mu.double().cpu().numpy())
        stds = sigma.double().cpu().numpy() * self.scaler_.scale
        for values in (weights, means, stds):
            self._check_finite_output(values, A, "z_from")
        return weights, means, stds

    def transition_log_likelihood(self, Z):
        """Log-likelihood of every transition ``(z_t, z_{t+lagtime})`` in ``Z``.

        Parameters
        ----------
        Z : array-like of shape (n_frames, n_components) or list of such

        Returns
        -------
        ndarray of shape (n_frames - lagtime,) or list of such
            ``log p(z_{t+lagtime} | z_t)`` in nats, in the user's units; mirrors the
            input (an empty array for a trajectory too short for one transition).

        Raises
        ------
        ValueError
            When ``Z`` is invalid, has no transition at ``lagtime``, or lies so far
            from the training range that the network cannot evaluate it.
        """
        return self._transition_log_likelihood(Z, name="Z")

    def _transition_log_likelihood(self, Z, name):
        check_is_fitted(self)
        trajs = check_trajectories(self, Z, reset=False, name=name)
        lags = [t for t in trajs if len(t) > self.lagtime]
        if not lags:
            # Reuse the shared error message for "no transitions".
            lagged_pairs(trajs, self.lagtime, name=name, estimator_name="MDNPropagator")
        out = [
            self._log_prob(t[: -self.lagtime], t[self.lagtime :], name, name)
            if len(t) > self.lagtime
            else np.empty(0)
            for t in trajs
        ]
        return mirror(out, trajs)

    def score(self, X, y=None):
        """Mean log-likelihood per transition of held-out trajectories.

        Parameters
        ----------
        X : array-like of shape (n_frames, n_components) or list of such
            Latent trajectories (in the space of the ``Z`` given to :meth:`fit`;
            named ``X`` as scikit-learn's model selection expects).
        y : None
            Ignored.

        Returns
        -------
        float
            ``mean log p(z_{t+lagtime} | z_t)`` over all transitions within the
            trajectories, in nats, in the user's units. Comparable across
            ``n_kernels`` and network settings at a fixed ``lagtime`` and latent
            space (higher is better), not across lag times.
        """
        ll = self._transition_log_likelihood(X, name="X")
        ll = ll if isinstance(ll, list) else [ll]
        return float(np.concatenate(ll).mean())

    def check_stationarity(
        self, Z, *, n_trajectories=100, length_factor=10, random_state=0, **check
    ):
        """Whether long runs of the learned chain keep the populations of ``Z``.

        A propagator can reproduce every short transition well and still have a
        slightly wrong stationary distribution, so that the populations of long
        generated runs drift away from the data. This generates
        ``n_trajectories`` runs started from frames spread evenly over ``Z``,
        together ``length_factor`` times as many frames as ``Z`` holds, and
        compares their marginal distributions with those of ``Z`` against the
        data's own block-to-block noise
        (:func:`sklss.analysis.compare_stationary_distributions`), warning when
        the gap is larger.

        Parameters
        ----------
        Z : array-like of shape (n_frames, n_components) or list of such
            Latent trajectories of the equilibrium data, typically those the
            propagator was fitted on.
        n_trajectories : int, default=100
            Number of generated runs (at most the number of frames of ``Z``).
        length_factor : float, default=10
            Generated frames per frame of ``Z`` (> 0): long runs show drifts
            that short ones hide.
        random_state : int, RandomState instance or None, default=0
            Seed of the sampling and of the bootstrap.
        **check
            Passed to :func:`~sklss.analysis.compare_stationary_distributions`
            (``bins``, ``coordinates``, ``n_blocks``, ``level``, ``tolerance``,
            ``n_resamples``).

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            The result of
            :func:`~sklss.analysis.compare_stationary_distributions` (per
            coordinate: ``distance``, ``noise``, ``threshold``, ``ratio``,
            ``p_value``; overall ``passed``), with ``n_steps`` added, the
            number of propagator steps of each generated run.

        Warns
        -----
        UserWarning
            When the generated populations differ from those of ``Z`` by more
            than the data's noise.

        Examples
        --------
        >>> import numpy as np
        >>> from scipy.signal import lfilter
        >>> from sklss import MDNPropagator
        >>> rng = np.random.default_rng(0)
        >>> Z = lfilter([0.3], [1, -0.95], rng.normal(size=5000))[:, None]
        >>> mdn = MDNPropagator(n_kernels=2, max_epochs=50, random_state=0).fit(Z)
        >>> check = mdn.check_stationarity(Z, n_trajectories=20)
        >>> check.distance.shape, check.n_steps
        ((1,), 2499)
        """
        from .analysis import compare_stationary_distributions

        check_is_fitted(self)
        trajs = check_trajectories(self, Z, reset=False, name="Z")
        n_frames = sum(len(t) for t in trajs)
        n_trajectories = check_int(n_trajectories, "n_trajectories", 1)
        if n_trajectories > n_frames:
            raise ValueError(
                f"n_trajectories must be at most the {n_frames} frames of Z; got "
                f"{n_trajectories}."
            )
        length_factor = check_real(
            length_factor, "length_factor", low=0.0, closed="neither"
        )
        rng = check_random_state_named(random_state)
        frames = np.concatenate(trajs)
        starts = frames[np.linspace(0, n_frames - 1, n_trajectories).astype(int)]
        n_steps = max(1, int(np.ceil(length_factor * n_frames / n_trajectories)) - 1)
        generated = self.sample(
            starts, n_steps, random_state=rng.randint(np.iinfo(np.int32).max)
        )
        result = compare_stationary_distributions(
            trajs, generated, random_state=rng, **check
        )
        result.n_steps = n_steps
        return result

    @_deprecate_positional_args(version="0.3")
    def sample(self, start, n_steps, *, random_state=None, out=None):
        """Generate latent trajectories by sampling the learned propagator.

        All trajectories advance together; frame ``k`` is the state after ``k``
        steps of ``lagtime`` frames each.

        Parameters
        ----------
        start : array-like of shape (n_components,) or (n_trajectories, n_components)
            Starting point(s), in the user's units. A start beyond the range the
            kernel means can reach (the training range plus 5 % on each side) is
            clipped to that range with a ``UserWarning``: the network has never
            seen such points and would extrapolate arbitrarily.
        n_steps : int
            Number of propagation steps (``>= 0``).
        random_state : int, RandomState instance or None, default=None
            Seed of the sampling noise; the same seed, number of trajectories and
            device give identical trajectories.
        out : ndarray, optional
            Preallocated output of the returned shape, float32 or float64 (for
            instance a float32 ``np.memmap`` for very long runs). Without it the
            output is float32 for a float32 ``start`` and float64 otherwise.

        Returns
        -------
        ndarray of shape (n_steps + 1, n_components) or \
(n_trajectories, n_steps + 1, n_components)
            The trajectories, first frame the (clipped) start; ``out`` when given.

        Raises
        ------
        TypeError
            ``start`` is not an array-like of real numbers, ``n_steps`` is not an
            int, or ``random_state`` is not None, an int or a ``RandomState``.
        ValueError
            ``start`` has the wrong shape or non-finite values, ``n_steps < 0``,
            ``random_state`` is an int outside ``[0, 2**32 - 1]``, ``out`` does not
            match, or the output would not fit in the available memory (checked
            before anything is allocated).

        Notes
        -----
        Propagation runs in float32 on ``device_``; random numbers are drawn in
        chunks and frames are written chunk by chunk into the output, so memory
        beyond the output itself stays constant (100 trajectories of 1e6 steps in
        3 components need 1.2 GB as float32). The kernel is chosen by inverse-CDF
        sampling with one uniform number per step; on the CPU and for up to 512
        trajectories the loop runs on numpy/BLAS, which has less per-call overhead.
        """
        check_is_fitted(self)
        n_steps = check_int(n_steps, "n_steps", 0)
        seed = seed_from_random_state(random_state)
        d = self.n_features_in_
        S = self._check_points(start, "start")
        single = _is_one_point(start)
        n_traj = len(S)
        shape = (n_steps + 1, d) if single else (n_traj, n_steps + 1, d)
        if out is None:
            dtype = np.float32 if _dtype_of(start) == np.float32 else np.float64
            check_fits_in_memory(
                np.dtype(dtype).itemsize * n_traj * (n_steps + 1) * d,
                {"n_steps": n_steps},
            )
            out = np.empty(shape, dtype=dtype)
        elif (
            not isinstance(out, np.ndarray)
            or out.shape != shape
            or out.dtype not in (np.float32, np.float64)
            or not out.flags.writeable
        ):
            raise ValueError(
                f"out must be a writeable float32 or float64 ndarray of shape {shape}; "
                f"got {type(out).__name__} of shape {getattr(out, 'shape', None)} "
                f"and dtype {getattr(out, 'dtype', None)}."
            )
        out3 = out[None] if single else out

        center, scale = self.scaler_.center, self.scaler_.scale
        low = center - (1.0 + _MEAN_MARGIN) * scale
        high = center + (1.0 + _MEAN_MARGIN) * scale
        if np.any(S < low) or np.any(S > high):
            warnings.warn(
                f"start lies outside the range the propagator was trained on (plus "
                f"5 %: {low.tolist()} to {high.tolist()}); it was clipped to that "
                "range.",
                UserWarning,
                stacklevel=2,
            )
            S = np.clip(S, low, high)
        self._propagate(S, n_steps, seed, out3)
        return out

    def _propagate(self, S, n_steps, seed, out3):
        """Write ``S`` (user units, shape (n, d), not clipped) and ``n_steps``
        sampled frames after it into ``out3`` of shape (n, n_steps + 1, d)."""
        d = self.n_features_in_
        n_traj = len(S)
        center, scale = self.scaler_.center, self.scaler_.scale
        out3[:, 0, :] = S
        if n_steps == 0:
            return

        device = torch.device(self.device_)
        generator = torch_generator(seed, device)
        use_numpy = device.type == "cpu" and n_traj <= _NUMPY_MAX_TRAJECTORIES
        single_path = use_numpy and n_traj == 1
        stepper = (self._numpy_stepper if use_numpy else self._torch_stepper)(n_traj)
        # Random numbers per step: d normal and one uniform per trajectory (K
        # uniforms on the single-trajectory path).
        per_step = n_traj * (d + (self.n_kernels if single_path else 1))
        chunk = max(1, min(n_steps, _CHUNK_SCALARS // per_step))
        state = self._to_internal(S).astype(np.float32)
        if not use_numpy:  # the torch sampler's state is (d, n_traj)
            state = torch.from_numpy(np.ascontiguousarray(state.T)).to(device)
        bar = None
        if self.verbose:
            from tqdm.auto import tqdm

            bar = tqdm(total=n_steps, desc=f"{type(self).__name__}.sample", unit="step")
        was_training = self.network_.training
        self.network_.eval()
        try:
            with torch.inference_mode():
                done = 0
                while done < n_steps:
                    T = min(chunk, n_steps - done)
                    u = torch.rand(
                        (T, n_traj * (self.n_kernels if single_path else 1)),
                        generator=generator,
                        device=device,
                    )
                    eps = torch.randn(
                        (T, n_traj, d) if use_numpy else (T, d, n_traj),
                        generator=generator,
                        device=device,
                    )
                    frames, state = stepper(state, u, eps)
                    block = out3[:, done + 1 : done + 1 + T, :]
                    # Internal units ((T, n, d) from numpy, (T, d, n) from torch)
                    # -> user units (n, T, d), straight into out.
                    frames = frames.transpose((1, 0, 2) if use_numpy else (2, 0, 1))
                    np.multiply(frames, scale, out=block)
                    block += center
                    done += T
                    if bar is not None:
                        bar.update(T)
        finally:
            self.network_.train(was_training)
            if bar is not None:
                bar.close()

    # ---------------------------------------------------------------- samplers

    def _output_layers(self):
        """(weight, bias, activation-after) for every Linear layer of the network."""
        layers = []
        for module in self.network_:
            if isinstance(module, torch.nn.Linear):
                layers.append([module.weight, module.bias, None])
            else:
                layers[-1][2] = module
        return layers

    def _torch_stepper(self, n_traj):
        """The batched sampler on torch.

        The network runs batch-major, as matrix products are fastest here (the
        output layer in one product); the mixture logits are then copied out
        feature-major, ``(K, n_traj)``, so that the kernel choice, the bulk of
        each step's elementwise work, runs along contiguous rows of trajectories.
        The state and the frames are feature-major too, ``(d, n_traj)``, the
        layout of the noise.
        """
        K, d = self.n_kernels, self.n_features_in_
        dev = next(self.network_.parameters()).device
        *hidden, last = self.network_
        hidden = BufferedForward(hidden, n_traj, dev) if hidden else None
        weight_t, bias = last.weight.t(), last.bias
        width = K + 2 * K * d
        out = torch.empty((n_traj, width), device=dev)
        logits = torch.empty((K, n_traj), device=dev)
        cdf = torch.empty((K, n_traj), device=dev)
        # The cumulative sums over kernels as one small product (several times
        # faster than cumsum along the kernel axis).
        lower = torch.tril(torch.ones((K, K), device=dev))
        # Flat indices into ``out`` of kernel 0's mean and scale pre-activations,
        # (2d, n_traj); kernel c is c*d further.
        rows = torch.arange(d, device=dev)
        first = torch.cat([rows, rows + K * d])[:, None] + (
            K + width * torch.arange(n_traj, device=dev)
        )

        def run(state, u, eps):
            T = len(u)
            frames = torch.empty((T, d, n_traj), device=dev)
            x = state
            for t in range(T):
                h = x.T if hidden is None else hidden(x.T)
                torch.addmm(bias, h, weight_t, out=out)
                logits.copy_(out[:, :K].T)
                logits.sub_(logits.amax(dim=0, keepdim=True)).exp_()
                torch.mm(lower, logits, out=cdf)
                # Kernel c = #{k : cdf_k < u * cdf_K}, counted in floating point
                # as (K - sum_k sign(cdf_k - u cdf_K)) / 2: rounding down counts a
                # tie as not below.
                below = torch.sub(cdf, u[t] * cdf[-1], out=cdf).sign_().sum(dim=0)
                c = below.sub_(K).mul_(-0.5).long().clamp_(0, K - 1)
                sel = torch.take(out, first + c * d)
                mean, sigma = _kernel_parameters(sel[:d], sel[d:])
                x = torch.addcmul(mean, sigma, eps[t], out=frames[t])
            return frames.cpu().numpy(), x

        return run

    def _numpy_stepper(self, n_traj):
        K, d = self.n_kernels, self.n_features_in_
        params = []
        for W, b, act in self._output_layers():
            params.append(
                (
                    np.ascontiguousarray(W.detach().cpu().numpy().T),
                    b.detach().cpu().numpy().copy(),
                    None if act is None else NUMPY_ACTIVATIONS[activation_name(act)],
                )
            )
        if n_traj == 1:
            return self._numpy_single_stepper(params)
        offsets = (np.arange(d) + K)[None, :]
        offsets = np.concatenate([offsets, offsets + K * d], axis=1)
        buffers = [
            np.empty((n_traj, W.shape[1]), dtype=np.float32) for W, _, _ in params
        ]
        rows = np.arange(n_traj)[:, None]

        def run(state, u, eps):
            u = u.numpy()
            eps = eps.numpy()
            T = len(u)
            frames = np.empty((T, n_traj, d), dtype=np.float32)
            x = state
            for t in range(T):
                h = _numpy_forward(x, params, buffers)
                logits = h[:, :K]
                p = np.exp(logits - logits.max(axis=1, keepdims=True))
                cdf = np.cumsum(p, axis=1, out=p)
                c = np.count_nonzero(cdf < u[t, :, None] * cdf[:, -1:], axis=1)
                np.minimum(c, K - 1, out=c)
                sel = h[rows, offsets + c[:, None] * d]
                mean, sigma = _kernel_parameters(sel[:, :d], sel[:, d:], np)
                x = frames[t]
                np.multiply(sigma, eps[t], out=x)
                x += mean
            return frames, x

        return run

    def _numpy_single_stepper(self, params):
        """One trajectory: per-call overhead is everything, so the kernel is picked
        by the Gumbel-max trick (two numpy calls instead of eight) and its mean and
        scale are read by slicing."""
        K, d = self.n_kernels, self.n_features_in_
        buffers = [np.empty(W.shape[1], dtype=np.float32) for W, _, _ in params]
        scores = np.empty(K, dtype=np.float32)
        logits = buffers[-1][:K]

        def run(state, u, eps):
            # u holds K uniforms per step on this path (see sample). u = 0 gives a
            # score of -inf: that kernel is simply not chosen.
            with np.errstate(divide="ignore"):
                gumbel = -np.log(-np.log(u.numpy().reshape(len(u), K)))
            eps = eps.numpy().reshape(len(u), d)
            T = len(u)
            frames = np.empty((T, 1, d), dtype=np.float32)
            x = state.reshape(d)
            for t in range(T):
                h = _numpy_forward(x, params, buffers)
                np.add(logits, gumbel[t], out=scores)
                c = K + int(scores.argmax()) * d
                mean, sigma = _kernel_parameters(
                    h[c : c + d], h[c + K * d : c + K * d + d], np
                )
                x = frames[t, 0]
                np.multiply(sigma, eps[t], out=x)
                x += mean
            return frames, x[None]

        return run

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


# ------------------------------------------------------------------ mixture math


def _is_one_point(start):
    """Whether ``start`` (already validated) is one point of shape (n_components,)."""
    ndim = getattr(start, "ndim", None)  # arrays and tensors; nested lists below
    return (np.ndim(start) if ndim is None else ndim) == 1


def _dtype_of(start):
    """The numpy dtype of ``start`` when it has one (arrays, tensors), else None."""
    dtype = getattr(start, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return {torch.float32: np.float32, torch.float64: np.float64}.get(dtype)
    return dtype


def _mixture(network, n_kernels, W0):
    """Log-weights ``(n, K)``, means and standard deviations ``(n, K, d)`` of the
    mixture at the internal points ``W0``."""
    out = network(W0)
    K = n_kernels
    d = (out.shape[1] // K - 1) // 2
    log_alpha = torch.log_softmax(out[:, :K], dim=1)
    mu, sigma = _kernel_parameters(
        out[:, K : K + K * d].reshape(-1, K, d), out[:, K + K * d :].reshape(-1, K, d)
    )
    return log_alpha, mu, sigma


def _log_prob(network, n_kernels, W0, W1, dtype=None):
    """``log p(W1 | W0)`` in internal units.

    ``dtype``: that of the kernel densities (the network runs in its own); float64
    keeps the density of a point far from the kernels finite, where its squared
    distance would overflow float32.
    """
    log_alpha, mu, sigma = _mixture(network, n_kernels, W0)
    if dtype is not None:
        log_alpha, mu, sigma, W1 = (t.to(dtype) for t in (log_alpha, mu, sigma, W1))
    z = (W1[:, None, :] - mu) / sigma
    log_kernel = -0.5 * (z * z + _LOG_2PI) - torch.log(sigma)
    return torch.logsumexp(log_alpha + log_kernel.sum(dim=2), dim=1)


def _numpy_forward(x, params, buffers):
    """The network on numpy, layer by layer into preallocated ``buffers``."""
    h = x
    for (W, b, act), buf in zip(params, buffers, strict=True):
        np.matmul(h, W, out=buf)
        buf += b
        h = buf if act is None else act(buf)
    return h


def _chunked_log_prob(network, n_kernels, W0, W1, chunk=65536):
    """:func:`_log_prob` in float64, in chunks of ``chunk`` pairs."""
    return torch.cat(
        [
            _log_prob(
                network,
                n_kernels,
                W0[i : i + chunk],
                W1[i : i + chunk],
                dtype=torch.float64,
            )
            for i in range(0, len(W0), chunk)
        ]
    )
