"""The decoder D: a conditional Wasserstein GAN with gradient penalty (paper §2.3)."""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _deprecate_positional_args, check_is_fitted

from ._base import (
    FIT_STACKLEVEL,
    AffineScaler,
    BaseNetwork,
    TrainingPlan,
    WeightAveraging,
    mean_and_std,
    store_init_params,
)
from ._data import check_trajectories
from ._torch import (
    BufferedForward,
    check_hidden_layer_sizes,
    chunked_forward,
    make_mlp,
    mlp_parameter_count,
    seed_from_random_state,
    torch_generator,
)
from ._training import train, train_validation_split
from .exceptions import TrainingDivergedError

__all__ = ["CWGANDecoder"]

# The data range is mapped to [-_MARGIN, _MARGIN] rather than [-1, 1]: tanh reaches
# +-1 only asymptotically, so extreme training frames would otherwise need
# saturated pre-activations (vanishing gradients).
_MARGIN = 0.9

# Frames decoded per forward pass in ``sample``. Large enough that the matrix
# products dominate the per-call overhead, small enough that the activations of a
# 3x200 generator stay in cache; see benchmarks/bench_decoder.py.
_SAMPLE_CHUNK = 4096

# Fit of the conditional-mean network: at most this many epochs, early stopping on
# a held-out tenth with this patience.
_MEAN_MAX_EPOCHS = 200
_MEAN_PATIENCE = 10
# Smallest conditional spread the scale network resolves, as a fraction of the
# residuals' standard deviation.
_SCALE_FLOOR = 1e-3
# Largest log conditional spread used in decoding, in units of the standard
# deviation of y: reached only far outside the training range of ψ, where it keeps
# exp() finite.
_MAX_LOG_SCALE = 20.0


def _evaluate(net, Z):
    """``net(Z)`` for every frame, in chunks, as a float64 array."""
    with torch.no_grad():
        return chunked_forward(net, Z).cpu().numpy().astype(np.float64)


class _Concatenated(torch.nn.Module):
    """The outputs of several networks of the same input, side by side."""

    def __init__(self, *networks):
        super().__init__()
        self.networks = torch.nn.ModuleList(networks)

    def forward(self, x):
        return torch.cat([net(x) for net in self.networks], dim=1)


def _addcmul_into(target, offset, x, scale):
    """``target[:] = offset + x * scale``, computed where ``x`` lives (target on
    the host, x on any device)."""
    if x.device == target.device:
        torch.addcmul(offset, x, scale, out=target)
    else:
        target.copy_(torch.addcmul(offset, x, scale, out=x))


def _check_pairs(Z, X):
    """Z and y must hold the same trajectories frame by frame."""
    if len(Z) != len(X):
        raise ValueError(
            f"Z and y must contain the same number of trajectories; got {len(Z)} "
            f"trajectories in Z and {len(X)} in y."
        )
    if Z.lengths != X.lengths:
        which = next(
            i
            for i, (a, b) in enumerate(zip(Z.lengths, X.lengths, strict=True))
            if a != b
        )
        where = f" (trajectory {which})" if len(Z) > 1 else ""
        raise ValueError(
            "Z and y must have the same number of frames, one latent position per "
            f"configuration{where}; got {Z.lengths[which]} frames in Z and "
            f"{X.lengths[which]} in y."
        )


class CWGANDecoder(BaseNetwork):
    """Conditional Wasserstein GAN decoder from latent positions to configurations.

    The decoder of a latent space simulator: a generator ``G(ψ, ε)`` with Gaussian
    noise ``ε ~ N(0, I_d)`` that produces configurations consistent with the latent
    position ``ψ``, trained adversarially against a critic ``C(x, ψ)``. Both networks
    receive ``ψ`` by concatenation. Training minimises the Wasserstein-1 distance
    between the generated and the observed conditional distributions, with the
    critic's Lipschitz constraint enforced by a gradient penalty (WGAN-GP).

    Parameters
    ----------
    noise_dim : int, default=50
        Dimension ``d`` of the generator's Gaussian noise.
    hidden_layer_sizes : tuple of int, default=(200, 200, 200)
        Hidden layer widths of both the generator and the critic.
    mean_layer_sizes : tuple of int or None, default=(100, 100)
        Hidden layer widths of a network ``m(ψ)`` fitted first, by least squares,
        to the conditional mean ``E[x | ψ]``; the GAN then learns the residuals
        ``x - m(ψ)``, and :meth:`sample` returns ``m(ψ) + G(ψ, ε)``. None: no
        mean network, the GAN learns the configurations themselves (the paper's
        decoder). See Notes.
    conditional_scale : bool, default=True
        With a mean network, also fit a network ``s(ψ)`` of the same sizes to the
        conditional standard deviation of every coordinate, together with
        ``m(ψ)`` by maximum Gaussian likelihood after the least-squares fit; the
        GAN then learns ``(x - m(ψ)) / s(ψ)``, and
        :meth:`sample` returns ``m(ψ) + s(ψ) G(ψ, ε)``. The GAN still models the
        shape and the correlations of the conditional law. Ignored when
        ``mean_layer_sizes`` is None. See Notes.
    activation : {"swish", "relu", "tanh", "elu", "gelu", "leaky_relu", \
"sigmoid", "silu", "identity"}, default="swish"
        Activation of the hidden layers of both networks.
    n_critic : int, default=5
        Critic updates per generator update.
    gradient_penalty : float, default=10.0
        Weight ``λ`` of the gradient penalty.
    penalty : {"one-sided", "two-sided"}, default="one-sided"
        ``"two-sided"`` penalises ``(||∇C|| - 1)^2`` (Gulrajani et al.),
        ``"one-sided"`` only gradient norms above 1, ``max(0, ||∇C|| - 1)^2``
        (Petzka et al.); see Notes for why the latter is the default.
    learning_rate_init : float, default=1e-3
        Initial Adam learning rate of both networks (Adam betas are (0, 0.9)).
        With 1e-4, common for WGAN-GP on large data sets, fits of 10^4-10^5 frames
        stay far from converged within the default epochs (see Notes).
    learning_rate : {"linear", "constant"}, default="linear"
        ``"linear"`` decays the learning rate of both networks linearly to zero
        over the ``max_epochs`` epochs (as Gulrajani et al. do); ``"constant"``
        keeps it fixed. See Notes. (A float here is the former spelling of
        ``learning_rate_init``; deprecated.)
    learning_rate_schedule : {"linear", "constant"}, default="deprecated"
        Former name of ``learning_rate`` (the schedule); deprecated.
    ema_decay : float in [0, 1), default=0.999
        Decay of the exponential moving average of the generator weights that
        becomes ``generator_`` after training (Yazıcı et al.); 0 keeps the
        weights of the last update. See Notes.
    batch_size : int, default=256
        Frames per critic update.
    max_epochs : int, default=50
        Passes over the training frames. All of them run; see Notes.
    warm_start : bool, default=False
        Continue from the networks (the averaged generator and the critic) and the
        scalings of the previous ``fit`` instead of initialising anew. The previous
        fit must have the same network shapes and data widths.
    callbacks : list of callable or None, default=None
        Functions ``f(record)`` called at the end of every epoch with its history
        row (a dict); returning True stops training.
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation, minibatches and training noise; fitting twice
        with the same int gives identical networks (same machine and device).
    device : {"cpu", "cuda", "cuda:N", "auto"} or torch.device, default="cpu"
        Where the networks are trained and evaluated.
    verbose : bool, default=False
        Show a progress bar with the losses of each epoch.

    Attributes
    ----------
    generator_ : torch.nn.Module
        Maps ``[scaled ψ, ε]`` to configurations scaled to ``(-1, 1)``; the
        moving average of the trained weights when ``ema_decay > 0``.
    critic_ : torch.nn.Module
        Maps ``[x in units of x_scale_, scaled ψ]`` to a score.
    mean_network_ : torch.nn.Module or None
        Maps scaled ψ to the conditional mean in units of ``mean_scaler_``; None
        when ``mean_layer_sizes`` is None.
    mean_scaler_ : AffineScaler or None
        Standardisation of ``y`` for the mean network.
    mean_history_ : list of dict
        Learning curve of the mean network (``loss`` and ``val_loss``: mean
        squared error per coordinate in units of the standard deviation of
        ``y``); empty when ``mean_layer_sizes`` is None.
    scale_network_ : torch.nn.Module or None
        Maps scaled ψ to ``log s(ψ)``, the log conditional standard deviation of
        every coordinate in units of ``mean_scaler_`` (the standard deviation of
        ``y``); None without a mean network or with ``conditional_scale=False``.
    scale_history_ : list of dict
        Learning curve of the joint fit of the mean and scale networks (``loss``
        and ``val_loss``: Gaussian negative log-likelihood per coordinate in
        units of the standard deviation of ``y``, up to a constant); empty
        without a scale network.
    n_features_in_ : int
        Dimension of the latent conditioning ``Z``.
    n_features_out_ : int
        Dimension of the decoded configurations ``y``.
    z_scaler_ : AffineScaler
        Standardisation of ``Z`` applied before both networks (``z_mean_``,
        ``z_scale_``).
    x_scaler_ : AffineScaler
        Affine map of the range of ``y`` (of what the GAN learns with a mean
        network: the residuals ``y - m(ψ)``, or with a scale network the
        dimensionless ``(y - m(ψ)) / s(ψ)``) onto ``[-0.9, 0.9]``; its inverse
        takes the generator's ``(-1, 1)`` output back to those units
        (``x_center_``, ``x_halfrange_``).
    critic_scaler_ : AffineScaler
        The critic sees ``(x - x_center_) / x_scale_``, with ``x_scale_`` the
        standard deviation of every feature of ``y`` (of what the GAN learns with
        a mean network).
    history_ : list of dict
        One entry per epoch with the epoch means of ``critic_loss`` (also under
        ``loss``), ``generator_loss`` (``-E[C(G(ε, ψ), ψ)]``), ``wasserstein``
        (``E[C(x, ψ)] - E[C(G(ε, ψ), ψ)]``, the critic's estimate of the
        Wasserstein distance), ``gradient_penalty`` and ``duration``.
    n_epochs_ : int
        Number of epochs run.
    converged_ : bool
        True when the fixed schedule of ``max_epochs`` epochs ran to its end (or a
        callback stopped it); adversarial training has no convergence criterion.
    device_ : str
        The resolved device.

    See Also
    --------
    sklss.SRVTransformer : The encoder that provides ``Z``.
    sklss.MDNPropagator : Generates latent trajectories to decode.

    Notes
    -----
    ``y`` is rescaled feature-wise so that its training range fills
    ``[-0.9, 0.9]``, matching the generator's tanh output with room to extrapolate
    slightly; ``Z`` is standardised. Both scalings are internal and inverted on
    output, so users pass raw latent positions and raw coordinates. The critic
    sees every feature in units of its standard deviation instead of its range:
    the gradient penalty bounds the critic's slope in the same units for every
    feature, so a feature with a wide range but a narrow conditional spread (a
    coordinate that moves with ψ) is not compressed into a corner of the
    critic's Lipschitz budget.

    The loss of Gulrajani et al. (2017) is used: the critic minimises
    ``E[C(G)] - E[C(x)] + λ E[(||∇_x̂ C(x̂, ψ)|| - 1)^2]`` with ``x̂`` uniform on the
    segments between real and generated frames of the same ``ψ``; the generator
    minimises ``-E[C(G)]`` once every ``n_critic`` critic updates. By default the
    penalty is one-sided (only ``||∇C|| > 1`` is penalised), which enforces the
    same Lipschitz constraint. The two-sided penalty also punishes gradients
    *smaller* than 1, and that creates a trap: a freshly initialised critic has
    tiny gradients, the penalty term dominates its first updates and drives the
    gradient norm to 1 in whichever direction is nearest, and a critic that ends
    up sloping the wrong way (``E[C(x)] < E[C(G)]``) cannot turn around without
    passing through small gradients, which the penalty forbids. We observed this
    on a 1-D toy with a 2x64 Swish critic (Wasserstein estimate stuck at -0.49
    where +0.5 is optimal); the one-sided penalty trains correctly there. Epoch means of
    ``generator_loss`` are taken over every critic batch (the critic's current view
    of the generator), which costs nothing extra.

    Adversarial training with a constant learning rate does not settle: the
    generator keeps circling the equilibrium, and the last iterate is off by an
    amount set by the learning rate. On the bimodal toy of the tests that showed
    as errors of the conditional mean of up to 0.15 (4 % of its range) at the
    end of training. Two standard remedies are applied together: the learning
    rate decays linearly to zero, and the returned generator is an exponential
    moving average of the generator's weights over training (Yazıcı et al.
    2019), with decay ``min(ema_decay, (1 + t) / (10 + t))`` at generator update
    ``t`` so that short fits are not dominated by the initial weights. Adam's
    first-moment decay is 0 (betas (0, 0.9)): momentum in a two-player game adds
    to the circling.

    Training budget: what a fit achieves is set by the learning rate times the
    number of generator updates (``max_epochs * n_frames / (batch_size *
    n_critic)``). On heteroscedastic 6-D toys of 20,000 frames (50 epochs, 780
    generator updates), a learning rate of 1e-4 left the conditional means off by
    up to 2 marginal standard deviations, and 1e-3 by 0.15-0.25; on alanine
    dipeptide (25,000 frames, 100 epochs) 1e-3 halved the Ramachandran error of
    decoded structures (0.78 to 0.41 kT). Hence the default of 1e-3. With much
    more data (10^6 frames and more) or signs of instability in ``history_``, a
    smaller rate is the safer choice; with little data, more epochs help
    (``benchmarks/bench_decoder_fidelity.py``).

    Conditional mean first: where the mean configuration changes quickly with
    ``ψ`` compared with the spread around it, a GAN learning ``x`` directly
    blurs neighbouring conditions together and over-disperses, and under-disperses
    elsewhere (the critic resolves ``ψ`` only coarsely). On heteroscedastic 6-D
    toys the per-bin spread of such a decoder was 0.4-3 times the truth where the
    mean moved by up to a hundred standard deviations per unit of ``ψ``.
    Least-squares regression resolves the mean far more sharply than the
    adversarial game does, so by default a mean network ``m(ψ)`` is fitted first
    (up to 200 epochs, early stopping on a held-out tenth of the frames), and the
    GAN learns the residuals ``x - m(ψ)``, whose law changes slowly with ``ψ``.
    On the same toys that brought the spread to 0.9-1.1 times the truth. The
    residuals are computed with the same network for every frame, training and
    held out alike.

    Conditional scale: the GAN still resolves ``ψ`` only coarsely, so where the
    spread changes with ``ψ`` it pulls every spread toward the average one
    (on a 3-D toy whose spreads change 2.2-fold, 0.86-1.21 times the truth, the
    too-wide ones where the truth is narrowest). A second network ``s(ψ)`` removes
    that trend: the GAN learns ``(x - m(ψ)) / s(ψ)``, whose spread is about 1 at
    every ``ψ``, and keeps modelling its shape and correlations, which need not
    be Gaussian. After the least-squares fit of ``m``, both networks are fitted
    together by maximum Gaussian likelihood (the same early stopping and held-out
    frames; the last bias of ``s`` starts at the log of the residuals' standard
    deviation). Fitting ``s`` alone to the least-squares residuals is not enough:
    the least-squares mean is off by a similar amount everywhere, and where the
    spread is narrow ``s`` takes that error for spread (on ``hetero-2d``, a
    decoded spread 1.2 times the truth there); the likelihood weighs the mean's
    errors by ``1 / s(ψ)^2``. The floor of ``s`` is 10^-3 of the residuals'
    standard deviation.

    Stopping rule: training runs all ``max_epochs`` epochs, without early stopping
    and without restoring an earlier epoch. Adversarial losses are not a validation
    criterion: their values depend on the current critic as much as on the
    generator, so the epoch with the lowest loss is often the one where the critic
    was weakest, not where the generator was best. The Wasserstein estimate in
    ``history_`` is a progress diagnostic; it levels off when the critic can no
    longer separate generated from observed frames.

    References
    ----------
    Sidky, Chen and Ferguson, "Molecular latent space simulators", Chem. Sci. 11,
    9459 (2020). Gulrajani et al., "Improved training of Wasserstein GANs", NeurIPS
    (2017). Petzka, Fischer and Lukovnicov, "On the regularization of
    Wasserstein GANs", ICLR (2018). Yazıcı et al., "The unusual effectiveness of
    averaging in GAN training", ICLR (2019).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss import CWGANDecoder
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.uniform(-1, 1, size=(500, 1))
    >>> X = np.hstack([Z, Z**2]) + 0.05 * rng.normal(size=(500, 2))
    >>> decoder = CWGANDecoder(hidden_layer_sizes=(32, 32), max_epochs=2,
    ...                        random_state=0).fit(Z, X)
    >>> decoder.sample(Z[:10], random_state=0).shape
    (10, 2)
    """

    _parameter_constraints = {
        **BaseNetwork._parameter_constraints,
        "noise_dim": [Interval(Integral, 1, None, closed="left")],
        "mean_layer_sizes": [
            "array-like",
            Interval(Integral, 1, None, closed="left"),
            None,
        ],
        "conditional_scale": ["boolean"],
        "n_critic": [Interval(Integral, 1, None, closed="left")],
        "gradient_penalty": [Interval(Real, 0, None, closed="left")],
        "penalty": [StrOptions({"one-sided", "two-sided"})],
        "learning_rate_schedule": [StrOptions({"linear", "constant", "deprecated"})],
        "ema_decay": [Interval(Real, 0, 1, closed="left")],
    }
    _architecture_params = (
        "hidden_layer_sizes",
        "activation",
        "noise_dim",
        "mean_layer_sizes",
        "conditional_scale",
    )
    _size_params = ("hidden_layer_sizes", "noise_dim", "mean_layer_sizes")
    _module_attributes = (
        "generator_",
        "critic_",
        "z_scaler_",
        "x_scaler_",
        "critic_scaler_",
        "mean_network_",
        "mean_scaler_",
        "scale_network_",
    )
    _default_schedule = "linear"
    # Saved before the conditional mean and scale networks existed: a GAN on y
    # itself, or on the residuals about the mean.
    _added_params = {"mean_layer_sizes": None, "conditional_scale": False}

    def __init__(
        self,
        noise_dim=50,
        *,
        hidden_layer_sizes=(200, 200, 200),
        mean_layer_sizes=(100, 100),
        conditional_scale=True,
        activation="swish",
        n_critic=5,
        gradient_penalty=10.0,
        penalty="one-sided",
        learning_rate_init=1e-3,
        learning_rate="linear",
        learning_rate_schedule="deprecated",
        ema_decay=0.999,
        batch_size=256,
        max_epochs=50,
        warm_start=False,
        callbacks=None,
        random_state=None,
        device="cpu",
        verbose=False,
    ):
        store_init_params(self, locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, Z, y):
        """Train the generator and the critic on pairs (latent position, frame).

        Parameters
        ----------
        Z : array-like of shape (n_frames, n_components) or list of such
            Latent position of every frame (for example ``SRVTransformer``
            output).
        y : array-like of shape (n_frames, n_features_out) or list of such
            The configuration of every frame (for example aligned, flattened
            coordinates): the decoder's target; the same number of trajectories
            and frames as ``Z``.

        Returns
        -------
        self : CWGANDecoder
            The fitted decoder.

        Raises
        ------
        TypeError
            When ``Z`` or ``y`` is not array-like, or an entry of ``callbacks``
            is not callable.
        ValueError
            When ``Z`` or ``y`` is invalid (non-finite values, different frame
            counts), a parameter is (a bool given for a number, for instance,
            or ``learning_rate_init`` or ``gradient_penalty`` beyond the float32
            range), or the networks would not fit in memory. The estimator is
            left as it was.
        TrainingDivergedError
            When a loss or a weight became NaN or infinite, or the trained
            generator gives non-finite configurations (a ``ValueError`` too).
            The estimator is left as it was;
            the error carries ``history`` and ``partial_estimator`` (see
            :class:`~sklss.exceptions.TrainingDivergedError`).

        Warns
        -----
        ConvergenceWarning
            When training was interrupted (``KeyboardInterrupt`` after the first
            epoch keeps the networks of the last complete epoch and sets
            ``converged_`` to False).
        UserWarning
            When features of ``Z`` or ``y`` vary only below float64 working
            precision relative to their magnitude (they are treated as constant).
        """
        return self._fit(Z, y)

    def _resolve_learning_rate(self):
        learning_rate, schedule = super()._resolve_learning_rate()
        if self.learning_rate_schedule != "deprecated":
            warnings.warn(
                "CWGANDecoder: learning_rate_schedule is deprecated and will be "
                "removed in sklss 0.3; pass the schedule as learning_rate="
                f"{self.learning_rate_schedule!r} (and the step size as "
                "learning_rate_init).",
                FutureWarning,
                stacklevel=5,
            )
            schedule = self.learning_rate_schedule
        return learning_rate, schedule

    def _check_fit_data(self, Z, y):
        if y is None:
            raise ValueError(
                "CWGANDecoder requires y to be passed, but the target y is None: "
                "the target configurations are required; call fit(Z, y) with "
                "one configuration per latent frame."
            )
        Z = check_trajectories(None, Z, reset=True, name="Z", n_features_attr=None)
        X = check_trajectories(None, y, reset=True, name="y", n_features_attr=None)
        _check_pairs(Z, X)
        if self.warm_start and hasattr(self, "n_features_out_"):
            if X.n_features != self.n_features_out_:
                raise ValueError(
                    f"warm_start=True continues the previous fit, but y has "
                    f"{X.n_features} features (fitted with {self.n_features_out_}); "
                    "set warm_start=False to start anew."
                )
        return self._fit_data(
            Z, Z=Z.concatenate(np.float64), X=X.concatenate(np.float64)
        )

    def _mean_sizes(self):
        """``mean_layer_sizes`` checked, or None (no mean network).

        Raises
        ------
        TypeError, ValueError
            ``mean_layer_sizes`` is not None or a tuple of positive ints.
        """
        if self.mean_layer_sizes is None:
            return None
        return check_hidden_layer_sizes(self.mean_layer_sizes, "mean_layer_sizes")

    def _n_parameters(self, data, hidden):
        n_z, n_x = data.arrays["Z"].shape[1], data.arrays["X"].shape[1]
        generator = mlp_parameter_count(n_z + self.noise_dim, hidden, n_x)
        critic = mlp_parameter_count(n_x + n_z, hidden, 1)
        mean_sizes = self._mean_sizes()
        mean = 0 if mean_sizes is None else mlp_parameter_count(n_z, mean_sizes, n_x)
        scale = mean if self.conditional_scale else 0
        return generator + critic + mean + scale

    def _build(self, data, hidden):
        Z, X = data.arrays["Z"], data.arrays["X"]
        n_z, n_x = Z.shape[1], X.shape[1]
        generator = make_mlp(
            n_z + self.noise_dim,
            hidden,
            n_x,
            activation=self.activation,
            output_activation="tanh",
        )
        critic = make_mlp(n_x + n_z, hidden, 1, activation=self.activation)
        # With a mean network, the output scalings are replaced by those of the
        # residuals once the mean is fitted.
        x_scaler, critic_scaler = self._output_scalers(X, name="y")
        modules = {
            "generator_": generator,
            "critic_": critic,
            "z_scaler_": AffineScaler.standardize(
                Z, name="Z", stacklevel=FIT_STACKLEVEL
            ),
            "x_scaler_": x_scaler,
            "critic_scaler_": critic_scaler,
        }
        mean_sizes = self._mean_sizes()
        if mean_sizes is not None:
            modules["mean_network_"] = make_mlp(
                n_z, mean_sizes, n_x, activation=self.activation
            )
            modules["mean_scaler_"] = AffineScaler.standardize(X)
            if self.conditional_scale:
                modules["scale_network_"] = make_mlp(
                    n_z, mean_sizes, n_x, activation=self.activation
                )
        return modules

    @staticmethod
    def _output_scalers(X, name=None):
        """The generator's range scaling of ``X`` and the critic's (standard
        deviations about the same center); ``name``: warn about constant
        features under that name."""
        # Called from _build: one frame deeper than the other fit warnings.
        x_scaler = AffineScaler.from_range(
            X, _MARGIN, name=name, stacklevel=FIT_STACKLEVEL + 1
        )
        return x_scaler, AffineScaler(x_scaler.center, mean_and_std(X)[1])

    def _fit_regression(self, net, Zt, Yt, loss, split, generator, lr, *, what):
        """Fit ``net`` to minimise ``loss(net(Zt), Yt)``; return its history.

        ``split``: the training and held-out frame indices (on the device, the
        latter None without held-out frames), for early stopping (the best
        weights are kept); ``what`` names the fit in the progress bar.
        """
        train_idx, val_idx = split
        device = Zt.device
        Zf, Yf = Zt[train_idx], Yt[train_idx]
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)

        def step(idx):
            optimizer.zero_grad(set_to_none=True)
            value = loss(net(Zf[idx]), Yf[idx])
            value.backward()
            optimizer.step()
            return {"loss": value.item()}

        validate = None
        if val_idx is not None:
            Zv, Yv = Zt[val_idx], Yt[val_idx]

            def validate():
                with torch.no_grad():
                    return loss(net(Zv), Yv).item()

        # A preliminary fit: its learning curve is kept as a fitted attribute. A
        # fit that does not depend on ψ (no early improvement) or still improves
        # after the last epoch is not a failure: the GAN models what is left. (An
        # interruption is still reported.)
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r".*(max_epochs=\d+ reached|never improved)",
                category=ConvergenceWarning,
            )
            history, _ = train(
                modules={what: net},
                step=step,
                n_samples=len(Zf),
                batch_size=min(self.batch_size, len(Zf)),
                max_epochs=_MEAN_MAX_EPOCHS,
                generator=generator,
                validate=validate,
                n_iter_no_change=_MEAN_PATIENCE,
                tol=1e-5,
                device=device,
                verbose=self.verbose,
                desc=f"{type(self).__name__}.fit ({what})",
            )
        net.eval()
        return history

    def _fit_location_scale(self, modules, data, device, generator, lr):
        """Fit the conditional mean (and scale) networks; return ``(U, fitted)``.

        ``U``: what the GAN learns for every frame (float64), the residuals
        ``y - m(ψ)`` in the user's units, or with a scale network the
        dimensionless ``(y - m(ψ)) / s(ψ)``; ``fitted``: the learning curves.
        """
        net, scaler = modules["mean_network_"], modules["mean_scaler_"]
        Zt = modules["z_scaler_"].to_tensor(data.arrays["Z"], device, "Z")
        Yt = scaler.to_tensor(data.arrays["X"], device, "y")
        # One held-out tenth for both fits.
        split = [
            None if idx is None else idx.to(device)
            for idx in train_validation_split(len(Zt), 0.1, generator)
        ]
        fitted = {}
        fitted["mean_history_"] = self._fit_regression(
            net,
            Zt,
            Yt,
            torch.nn.functional.mse_loss,
            split,
            generator,
            lr,
            what="conditional mean",
        )
        if "scale_network_" not in modules:
            M = scaler.inverse_transform(_evaluate(net, Zt))
            return data.arrays["X"] - M, fitted
        # Then both by maximum likelihood, m(ψ) continuing from the least-squares
        # fit: the likelihood weighs the mean's errors by 1 / s(ψ)^2, so that the
        # mean is resolved best where the spread is narrow (a least-squares mean
        # is off by a similar amount everywhere, and where the spread is narrow
        # s(ψ) would take that error for spread). Both work in the units of
        # mean_scaler_, so that any scale of y fits float32: the scale network
        # outputs log(s(ψ) / mean_scaler_.scale). A fresh one starts from the
        # residuals' standard deviation (its last bias).
        scale_net = modules["scale_network_"]
        standardized = scaler.transform(data.arrays["X"])
        sd = mean_and_std(standardized - _evaluate(net, Zt))[1]
        if not self._continues_previous_fit():
            last = [m for m in scale_net if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.bias.copy_(torch.as_tensor(np.log(np.where(sd > 0, sd, 1.0))))
        floor = torch.as_tensor(
            (_SCALE_FLOOR * sd) ** 2, dtype=torch.float32, device=device
        )
        n_out = Yt.shape[1]

        def gaussian_nll(out, y):
            # -log N(y; m, s^2 + floor) up to a constant, with s = exp(log s): the
            # floor keeps a coordinate that is exact at some ψ from driving log s
            # to minus infinity.
            r = y - out[:, :n_out]
            log_s = out[:, n_out:]
            return (log_s + 0.5 * (r**2 + floor) * torch.exp(-2 * log_s)).mean()

        fitted["scale_history_"] = self._fit_regression(
            _Concatenated(net, scale_net),
            Zt,
            Yt,
            gaussian_nll,
            split,
            generator,
            lr,
            what="conditional mean and scale",
        )
        residuals = standardized - _evaluate(net, Zt)
        return residuals / np.exp(_evaluate(scale_net, Zt)), fitted

    def _training_plan(self, modules, data, device, *, seed, generator, lr):
        gen, critic = modules["generator_"], modules["critic_"]
        X, fitted = data.arrays["X"], {"mean_history_": [], "scale_history_": []}
        if "mean_network_" in modules:
            X, preliminary = self._fit_location_scale(
                modules, data, device, generator, lr
            )
            fitted.update(preliminary)
            if not self._continues_previous_fit():
                # A fresh fit: the GAN's scalings are those of the residuals (a
                # warm start keeps the previous ones, which its networks use).
                scalers = self._output_scalers(X)
                modules["x_scaler_"], modules["critic_scaler_"] = (
                    s.float().to(device) for s in scalers
                )
        Zt = modules["z_scaler_"].to_tensor(data.arrays["Z"], device, "Z")
        Xt = modules["x_scaler_"].to_tensor(X, device, "y")
        betas = (0.0, 0.9)
        opt_c = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
        opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=betas)
        noise_gen = torch_generator(seed + 1, device)
        lam = self._check_float32(self.gradient_penalty, "gradient_penalty")
        noise_dim, n_critic = self.noise_dim, self.n_critic
        one_sided = self.penalty == "one-sided"
        # Critic coordinates: generator units (range) -> standard deviations.
        to_critic = torch.as_tensor(
            modules["x_scaler_"].scale / modules["critic_scaler_"].scale,
            dtype=torch.float32,
        ).to(device)
        counter = [0]

        def noise(n):
            return torch.randn(n, noise_dim, generator=noise_gen, device=device)

        def step(idx):
            z, x = Zt[idx], Xt[idx] * to_critic
            n = len(idx)
            with torch.no_grad():
                fake = gen(torch.cat([z, noise(n)], dim=1)) * to_critic
            # Real and generated frames in one pass (the critic has no batch
            # statistics, so this equals two separate calls).
            scores = critic(torch.cat([torch.cat([x, fake]), z.repeat(2, 1)], dim=1))
            c_real, c_fake = scores[:n].mean(), scores[n:].mean()
            # The penalty acts on the configuration only: real and generated frames
            # of a pair share ψ, so the segment between them has constant ψ.
            eps = torch.rand(n, 1, generator=noise_gen, device=device)
            x_hat = (eps * x + (1 - eps) * fake).requires_grad_(True)
            c_hat = critic(torch.cat([x_hat, z], dim=1))
            (grad,) = torch.autograd.grad(c_hat.sum(), x_hat, create_graph=True)
            excess = grad.norm(dim=1) - 1
            if one_sided:
                excess = torch.relu(excess)
            penalty = (excess**2).mean()
            wasserstein = c_real - c_fake
            critic_loss = -wasserstein + lam * penalty
            opt_c.zero_grad(set_to_none=True)
            critic_loss.backward()
            opt_c.step()

            counter[0] += 1
            if counter[0] % n_critic == 0:
                critic.requires_grad_(False)
                generated = gen(torch.cat([z, noise(n)], dim=1)) * to_critic
                generator_loss = -critic(torch.cat([generated, z], dim=1)).mean()
                opt_g.zero_grad(set_to_none=True)
                generator_loss.backward()
                opt_g.step()
                critic.requires_grad_(True)
            critic_loss = critic_loss.item()
            return {
                "loss": critic_loss,
                "critic_loss": critic_loss,
                "generator_loss": -c_fake.item(),
                "wasserstein": wasserstein.item(),
                "gradient_penalty": penalty.item(),
            }

        callbacks, extra_modules = [], {}
        if self.ema_decay > 0:
            averaging = WeightAveraging(gen, self.ema_decay, every=n_critic)
            callbacks.append(averaging)
            # The average is restored with the networks on divergence/interruption.
            extra_modules["generator_average"] = averaging.average
        return TrainingPlan(
            step=step,
            n_samples=len(Zt),
            optimizers=[opt_c, opt_g],
            batch_size=self.batch_size,
            early_stopping=False,
            callbacks=callbacks,
            extra_modules=extra_modules,
            fitted=fitted,
        )

    def _finalize(self, modules, data, device, plan):
        fitted = {"n_features_out_": data.arrays["X"].shape[1], **plan.fitted}
        if "mean_network_" not in modules:
            fitted.update(mean_network_=None, mean_scaler_=None)
        if "scale_network_" not in modules:
            fitted.update(scale_network_=None)
        generator = plan.final(modules["generator_"])
        if generator is not modules["generator_"]:
            fitted["generator_"] = generator.eval()
        # The last generator update is not seen by any loss: the generator is
        # checked on the training positions (finite weights can still overflow).
        Z = modules["z_scaler_"].to_tensor(data.arrays["Z"], device, "Z")
        noise = torch_generator(0, device)
        with torch.inference_mode():
            for z in torch.split(Z, _SAMPLE_CHUNK):
                eps = torch.randn(
                    len(z), self.noise_dim, generator=noise, device=device
                )
                if not bool(torch.isfinite(generator(torch.cat([z, eps], 1))).all()):
                    raise TrainingDivergedError(
                        f"{type(self).__name__}.fit: the trained generator gives "
                        "non-finite configurations on the training data. Try a "
                        "smaller learning_rate_init or check Z and y for extreme "
                        "values."
                    )
        return fitted

    # The scalings under the names of the parameters they describe.
    z_mean_ = property(lambda self: self.z_scaler_.center)
    z_scale_ = property(lambda self: self.z_scaler_.scale)
    x_center_ = property(lambda self: self.x_scaler_.center)
    x_halfrange_ = property(lambda self: self.x_scaler_.scale)
    x_scale_ = property(lambda self: self.critic_scaler_.scale)

    @_deprecate_positional_args(version="0.3")
    def sample(self, Z, *, random_state=None):
        """Generate one configuration for every latent frame.

        Parameters
        ----------
        Z : array-like of shape (n_frames, n_components) or list of such
            Latent positions, for example a trajectory from
            ``MDNPropagator.sample``.
        random_state : int, RandomState instance or None, default=None
            Seeds the generator noise: the same int gives the same configurations
            (same machine and device); None gives fresh noise every call.

        Returns
        -------
        X : ndarray of shape (n_frames, n_features_out) or list of such
            Decoded configurations in the units of the training ``y``; a list when
            ``Z`` is a list, float32 for float32 ``Z`` and float64 otherwise.

        Raises
        ------
        TypeError
            When ``Z`` is not array-like or holds non-numbers, or
            ``random_state`` is not None, an int or a ``RandomState``.
        ValueError
            When ``Z`` is invalid (see :meth:`fit`) or holds values that lie
            beyond the float32 range after standardisation with the training
            statistics, or ``random_state`` is an int outside
            ``[0, 2**32 - 1]``.
        """
        check_is_fitted(self)
        Z = check_trajectories(self, Z, reset=False, name="Z")
        dtype = np.result_type(*[z.dtype for z in Z])
        Z_all = Z.concatenate()
        device = torch.device(self.device_)
        gen = torch_generator(seed_from_random_state(random_state), device)
        out = np.empty((len(Z_all), self.n_features_out_), dtype=dtype)
        n_z = self.n_features_in_
        self.generator_.eval()
        mean_network = getattr(self, "mean_network_", None)
        scale_network = getattr(self, "scale_network_", None)
        # float32 frames are scaled back to y's units in float32 on the device
        # and written straight into ``out`` (within a few float32 roundings of
        # the float64 composition); float64 frames are scaled on the host in
        # float64, so that large offsets or scales of y cost no precision.
        in_float32 = out.dtype == np.float32
        with torch.inference_mode():
            # Buffers for all chunks: ψ is written into the first columns of the
            # input, and the noise is drawn into a contiguous buffer (torch's fast
            # path; a strided slice draws several times slower) and copied after.
            chunk = min(_SAMPLE_CHUNK, len(Z_all))
            buf = torch.empty(chunk, n_z + self.noise_dim, device=device)
            noise = torch.empty(chunk, self.noise_dim, device=device)
            forward = BufferedForward(self.generator_, chunk, device)
            halfrange = self.x_scaler_.scale_t.to(device)
            center = self.x_scaler_.center_t.to(device)
            if mean_network is not None:
                mean_forward = BufferedForward(mean_network.eval(), chunk, device)
                y_center, y_sd = self.mean_scaler_.center, self.mean_scaler_.scale
                y_center_t = self.mean_scaler_.center_t.to(device)
                y_sd_t = self.mean_scaler_.scale_t.to(device)
            if scale_network is not None:
                scale_forward = BufferedForward(scale_network.eval(), chunk, device)
            for start in range(0, len(Z_all), _SAMPLE_CHUNK):
                stop = min(start + _SAMPLE_CHUNK, len(Z_all))
                inp = buf[: stop - start]
                # ψ standardised in float64 on the host: large offsets or scales of
                # Z cost no precision and cannot overflow float32.
                inp[:, :n_z] = self.z_scaler_.to_tensor(Z_all[start:stop], device, "Z")
                inp[:, n_z:] = noise[: stop - start].normal_(generator=gen)
                z = inp[:, :n_z]
                target = out[start:stop]
                if scale_network is None:
                    # x = (center + h G) [+ center + sd m(ψ) of the mean network]
                    g = forward(inp)
                    if in_float32 and mean_network is None:
                        _addcmul_into(torch.from_numpy(target), center, g, halfrange)
                    elif in_float32:
                        g.mul_(halfrange).add_(center).add_(y_center_t)
                        m = mean_forward(z)
                        _addcmul_into(torch.from_numpy(target), g, m, y_sd_t)
                    else:
                        x = self.x_scaler_.inverse_transform(g.cpu().numpy())
                        if mean_network is not None:
                            m = mean_forward(z).cpu().numpy()
                            x += self.mean_scaler_.inverse_transform(m)
                        target[:] = x
                    continue
                # x = center + sd * (m(ψ) + s(ψ) (c + h G)) with m, s, c and h in
                # units of mean_scaler_: the bracket, of order 1, in float32.
                x = forward(inp).mul_(halfrange).add_(center)  # reuses buffers
                log_s = scale_forward(z).clamp_(max=_MAX_LOG_SCALE)
                x.mul_(log_s.exp_()).add_(mean_forward(z))
                if in_float32:
                    _addcmul_into(torch.from_numpy(target), y_center_t, x, y_sd_t)
                else:
                    x = np.multiply(x.cpu().numpy(), y_sd)
                    np.add(x, y_center, out=target)
        bounds = np.cumsum([0, *Z.lengths])
        pieces = [out[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return pieces if Z.is_list else pieces[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # X (the target) is a 2-D array of configurations: 1-D targets are
        # reshaped by scikit-learn's checks instead of being passed as they are.
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.non_deterministic = False
        return tags
