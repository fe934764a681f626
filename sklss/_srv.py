"""State-free reversible VAMPnet (SRV): the encoder into the slow latent space."""

import numbers

import numpy as np
import torch
from sklearn.base import (
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base import (
    FIT_STACKLEVEL,
    AffineScaler,
    BaseNetwork,
    TrainingPlan,
    store_init_params,
)
from ._data import (
    check_output_container,
    check_trajectories,
    lagged_pairs,
    mirror,
    usable_trajectories,
)
from ._store import PairBlocks, check_finite_chunk, frame_statistics, is_lazy
from ._torch import chunked_forward, make_mlp, mlp_parameter_count
from ._training import train_validation_split
from ._vamp import (
    ReversibleMoments,
    reversible_covariances,
    reversible_eig,
    reversible_vamp2_loss,
    reversible_vamp2_score,
)
from ._warnings import warn
from .exceptions import TrainingDivergedError

__all__ = ["SRVTransformer"]


class SRVTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseNetwork):
    """State-free reversible VAMPnet: the slow eigenfunctions of the transfer operator.

    Twin lobes with shared weights map ``x_t`` and ``x_{t+lagtime}`` to
    ``n_components`` basis functions and are trained to maximise the reversible
    VAMP-2 score on the symmetrised covariances. After training, the variational
    problem ``C1 v = lambda C0 v`` is solved in float64 on the learned basis over the
    training data, so that the outputs are ordered eigenfunction estimates
    ``psi_1 .. psi_m``: zero mean and orthonormal over the training data, in
    descending order of eigenvalue.

    Parameters
    ----------
    lagtime : int, default=1
        Lag time in frames.
    n_components : int, default=2
        Number of slow eigenfunctions (the latent dimension ``m``). Must not exceed
        the number of features.
    hidden_layer_sizes : tuple of int, default=(100, 100)
        Widths of the hidden layers of the lobe. ``()`` is the linear limit, which is
        TICA with ``n_components`` components.
    activation : str, default="tanh"
        Hidden activation: one of "relu", "tanh", "swish", "silu", "elu", "gelu",
        "leaky_relu", "sigmoid", "identity".
    batch_norm : bool, default=True
        Batch normalisation after each hidden linear layer.
    learning_rate_init : float, default=0.01
        Initial Adam learning rate.
    learning_rate : {"constant", "linear"}, default="constant"
        Learning-rate schedule: constant, or decaying linearly to zero over
        ``max_epochs``. (A float here is the former spelling of
        ``learning_rate_init``; deprecated.)
    batch_size : int, default=1000
        Time-lagged pairs per minibatch. VAMP scores are nonlinear in the
        covariances, so very small batches give biased gradients; on the swissroll
        benchmark (``benchmarks/bench_srv.py``, 50k frames) 1000 gave the best
        held-out score in the shortest time among 1000-50000 (the paper's huge
        batches need many more epochs to reach the same score).
    max_epochs : int, default=200
        Upper bound on passes over the training pairs.
    validation_fraction : float, default=0.1
        Fraction of the time-lagged pairs held out for early stopping on the
        validation VAMP-2 score. ``0`` monitors the training score instead.
    n_iter_no_change : int, default=10
        Stop after this many epochs without an improvement of the monitored score
        by more than ``tol``; the best weights are restored.
    tol : float, default=1e-4
        Minimum improvement of the VAMP-2 score that counts as progress.
    epsilon : float, default=1e-6
        Regularisation of ``C0^{-1/2}`` (absolute, in units of the output
        variance): the training loss whitens with ``C0 + epsilon I``; the final
        eigenproblem and ``score`` clamp the eigenvalues of ``C0`` at ``epsilon``,
        which changes nothing for a well-conditioned basis (see
        :mod:`sklss._vamp`).
    warm_start : bool, default=False
        Continue from the weights (and input scaling) of the previous ``fit``
        instead of initialising anew, as scikit-learn's MLP does. The previous fit
        must have the same network shape and number of features.
    callbacks : list of callable or None, default=None
        Functions ``f(record)`` called at the end of every epoch with its history
        row (a dict); returning True stops training.
    random_state : int, RandomState instance or None, default=None
        Seeds the weight initialisation, the validation split and the minibatch
        order. An int makes ``fit`` reproducible on the same machine and device.
    device : {"cpu", "cuda", "cuda:N", "auto"} or torch.device, default="cpu"
        Where the network is trained and evaluated.
    verbose : bool, default=False
        Show a progress bar during training.

    Attributes
    ----------
    eigenvalues_ : ndarray of shape (n_components,)
        Estimated eigenvalues ``lambda_1 >= ... >= lambda_m`` of the transfer
        operator at ``lagtime`` (the stationary eigenvalue 1 excluded).
    timescales_ : ndarray of shape (n_components,)
        Implied time scales ``-lagtime / ln(lambda_i)`` in frames. An eigenvalue
        ``<= 0`` describes no monotonically decaying process at this lag time; its
        time scale is NaN.
    network_ : torch.nn.Module
        The lobe (an MLP on standardised inputs), in eval mode, float64.
    scaler_ : AffineScaler
        Per-feature standardisation of the inputs (training statistics).
    mean_ : ndarray of shape (n_components,)
        Mean of the lobe outputs over the training pairs (subtracted in
        ``transform``).
    eigenvectors_ : ndarray of shape (n_components, n_components)
        Columns map the mean-free lobe outputs to ``psi_1 .. psi_m``.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (negative training VAMP-2), ``val_loss``
        (negative validation VAMP-2, when a validation split exists), ``duration``.
    n_epochs_ : int
        Number of epochs run.
    converged_ : bool
        Whether early stopping ended training (else ``max_epochs`` ran out and a
        ``ConvergenceWarning`` was raised).
    device_ : str
        The resolved device.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when ``X`` had string column names.

    See Also
    --------
    deeptime.decomposition.TICA : The linear limit.
    deeptime.decomposition.deep.VAMPNet : Non-reversible VAMPnets.

    Notes
    -----
    The loss is the negative reversible VAMP-2 score ``1 + sum_i lambda_i^2`` of the
    lobe outputs, with the symmetrised covariances ``C0 = (C00 + C11) / 2`` and
    ``C1 = (C01 + C10) / 2`` of the mean-free outputs (mean over both halves of the
    pairs). The ``+1`` is the constant eigenfunction, as in deeptime's VAMP scores.
    Covariances and eigenproblems are computed in float64; the network runs in
    float32. Inputs are standardised per feature with the training statistics before
    the first layer. Time-lagged pairs are formed within each trajectory only.

    References
    ----------
    .. [1] W. Chen, H. Sidky, A. L. Ferguson, "Nonlinear discovery of slow molecular
       modes using state-free reversible VAMPnets", J. Chem. Phys. 150, 214114
       (2019).
    .. [2] H. Sidky, W. Chen, A. L. Ferguson, "Molecular latent space simulators",
       Chem. Sci. 11, 9459 (2020).

    Examples
    --------
    >>> import numpy as np
    >>> from sklss import SRVTransformer
    >>> rng = np.random.default_rng(0)
    >>> X = np.cumsum(rng.normal(size=(500, 3)), axis=0) * 0.1
    >>> srv = SRVTransformer(lagtime=2, hidden_layer_sizes=(16,), batch_size=100,
    ...                      max_epochs=20, n_iter_no_change=3, random_state=0)
    >>> srv = srv.fit(X)
    >>> srv.transform(X).shape
    (500, 2)
    >>> srv.eigenvalues_.shape, srv.timescales_.shape
    ((2,), (2,))
    """

    _parameter_constraints = {
        **BaseNetwork._parameter_constraints,
        "lagtime": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
        "epsilon": [Interval(numbers.Real, 0, None, closed="left")],
    }
    _architecture_params = (
        "hidden_layer_sizes",
        "activation",
        "batch_norm",
        "n_components",
    )
    _module_attributes = ("network_", "scaler_")

    def __init__(
        self,
        lagtime=1,
        *,
        n_components=2,
        hidden_layer_sizes=(100, 100),
        activation="tanh",
        batch_norm=True,
        learning_rate_init=0.01,
        learning_rate="constant",
        batch_size=1000,
        max_epochs=200,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        epsilon=1e-6,
        warm_start=False,
        callbacks=None,
        random_state=None,
        device="cpu",
        verbose=False,
    ):
        store_init_params(self, locals())

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the lobe and solve the final eigenproblem on the training data.

        Parameters
        ----------
        X : array-like of shape (n_frames, n_features) or list of such
            One trajectory or a list of trajectories with the same features.
        y : None
            Ignored.

        Returns
        -------
        self : SRVTransformer

        Raises
        ------
        TypeError
            When ``X`` is not array-like, or an entry of ``callbacks`` is not
            callable.
        ValueError
            When ``X`` is invalid (non-finite values, too short for ``lagtime``,
            fewer features than ``n_components``), a parameter is (a bool given
            for a number, for instance, or ``learning_rate_init`` beyond the
            float32 range), or the network would not fit in memory. The
            estimator is left as it was.
        TrainingDivergedError
            When the loss or a weight became NaN or infinite (also when the
            whitening of the covariances fails on degenerate outputs; a
            ``ValueError`` too). The estimator is left as it was; the error
            carries ``history`` and ``partial_estimator`` (see
            :class:`~sklss.exceptions.TrainingDivergedError`).

        Warns
        -----
        ConvergenceWarning
            When ``max_epochs`` ran out, the validation score never improved on the
            first epoch, or training was interrupted (``KeyboardInterrupt`` after
            the first epoch keeps the best weights so far and sets ``converged_``
            to False).
        UserWarning
            When features of ``X`` vary only below float64 working precision
            relative to their magnitude (they are treated as constant).
        """
        return self._fit(X)

    def _check_fit_data(self, X, y):
        trajs = check_trajectories(None, X, reset=True, n_features_attr=None)
        n_features = trajs.n_features
        if self.n_components > n_features:
            raise ValueError(
                f"n_components = {self.n_components} must be <= n_features = "
                f"{n_features}: the SRV cannot have more outputs than X has features "
                f"(X has {n_features} feature(s))."
            )
        if is_lazy(trajs):
            # Trajectories read from disk: pairs are streamed block by block.
            usable_trajectories(trajs, self.lagtime, estimator_name=type(self).__name__)
            pairs = PairBlocks(trajs, self.lagtime, name="X")
            return self._fit_data(trajs, pairs=pairs, frames=trajs)
        X0, X1 = lagged_pairs(trajs, self.lagtime, estimator_name=type(self).__name__)
        return self._fit_data(trajs, X0=X0, X1=X1, frames=trajs)

    def _n_parameters(self, data, hidden):
        return mlp_parameter_count(
            data.n_features_in, hidden, self.n_components, batch_norm=self.batch_norm
        )

    def _build(self, data, hidden):
        network = make_mlp(
            data.n_features_in,
            hidden,
            self.n_components,
            activation=self.activation,
            batch_norm=self.batch_norm,
        )
        frames = data.arrays["frames"]
        if is_lazy(frames):
            stats = frame_statistics(frames, "X")
            scaler = AffineScaler(
                stats.mean, stats.std, name="X", stacklevel=FIT_STACKLEVEL
            )
        else:
            scaler = AffineScaler.standardize(
                frames.concatenate(), name="X", stacklevel=FIT_STACKLEVEL
            )
        return {"network_": network, "scaler_": scaler}

    def _training_plan(self, modules, data, device, *, seed, generator, lr):
        network, scaler = modules["network_"], modules["scaler_"]
        # A minibatch of one pair gives one frame per half; batch norm needs two
        # rows, which the joint forward pass of both halves provides.
        optimizer = torch.optim.Adam(network.parameters(), lr=lr)
        epsilon = float(self.epsilon)

        def update(A, B):
            b = len(A)
            out = network(torch.cat([A, B]))
            loss = reversible_vamp2_loss(out[:b], out[b:], epsilon=epsilon)
            if not torch.isfinite(loss):
                return {"loss": loss.item()}  # divergence: no step
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return {"loss": loss.item()}

        def evaluate(Z0, Z1):
            return reversible_vamp2_loss(Z0, Z1, epsilon=epsilon).item()

        if "pairs" in data.arrays:
            return self._streamed_plan(
                data.arrays["pairs"],
                scaler,
                device,
                generator,
                update=update,
                outputs=lambda A, B: (
                    chunked_forward(network, A),
                    chunked_forward(network, B),
                ),
                evaluate=evaluate,
                optimizers=[optimizer],
            )
        T0 = scaler.to_tensor(data.arrays["X0"], device, "X")
        T1 = scaler.to_tensor(data.arrays["X1"], device, "X")
        train_idx, val_idx = train_validation_split(
            len(T0), self.validation_fraction, generator
        )
        train_idx = train_idx.to(device)

        def step(idx):
            rows = train_idx[idx]
            return update(T0[rows], T1[rows])

        validate = None
        if val_idx is not None:
            val_idx = val_idx.to(device)
            V0, V1 = T0[val_idx], T1[val_idx]

            def validate():
                with torch.inference_mode():
                    return evaluate(
                        chunked_forward(network, V0), chunked_forward(network, V1)
                    )

        return TrainingPlan(
            step=step,
            n_samples=len(train_idx),
            optimizers=[optimizer],
            batch_size=self.batch_size,
            validate=validate,
        )

    def _finalize(self, modules, data, device, plan):
        # Trained in float32; evaluated in float64 from here on, so that a frame's
        # psi does not depend on which other frames share its batch (float32 GEMM
        # kernels round differently for different batch sizes).
        network = modules["network_"].double().eval()
        scaler = modules["scaler_"]
        if "pairs" in data.arrays:
            return self._finalize_streamed(
                network, scaler, data.arrays["pairs"], device
            )
        with torch.inference_mode():
            Z0, Z1 = (
                chunked_forward(
                    network,
                    scaler.to_tensor(data.arrays[k], device, "X", torch.float64),
                )
                .cpu()
                .numpy()
                for k in ("X0", "X1")
            )
        if not (np.all(np.isfinite(Z0)) and np.all(np.isfinite(Z1))):
            self._raise_non_finite()
        # The final variational problem uses all training pairs (also the validation
        # ones): the eigenfunctions are then orthonormal over exactly the training data.
        return self._final_state(network, *reversible_covariances(Z0, Z1))

    def _finalize_streamed(self, network, scaler, pairs, device):
        """The final eigenproblem from covariances accumulated block by block."""
        moments = ReversibleMoments()
        with torch.inference_mode():
            for block in pairs.blocks:
                Z0, Z1 = (
                    chunked_forward(
                        network, scaler.to_tensor(x, device, "X", torch.float64)
                    )
                    .cpu()
                    .numpy()
                    for x in pairs.read(block)
                )
                if not (np.all(np.isfinite(Z0)) and np.all(np.isfinite(Z1))):
                    self._raise_non_finite()
                moments.update(Z0, Z1)
        return self._final_state(network, *moments.covariances())

    def _raise_non_finite(self):
        raise TrainingDivergedError(
            f"{type(self).__name__}.fit: the trained network gives non-finite "
            "outputs on the training data, so the final eigenproblem cannot be "
            "solved. Try a smaller learning_rate_init or check X for extreme "
            "values."
        )

    def _final_state(self, network, out_mean, C0, C1):
        eigenvalues, eigenvectors = reversible_eig(C0, C1, epsilon=float(self.epsilon))
        fast = np.flatnonzero(eigenvalues <= np.exp(-1.0))
        if len(fast):
            details = ", ".join(
                f"{i}: eigenvalue {eigenvalues[i]:.3g}"
                + (
                    ", no time scale"
                    if eigenvalues[i] <= 0
                    else f", time scale {-self.lagtime / np.log(eigenvalues[i]):.3g}"
                )
                for i in fast
            )
            warn(
                f"{type(self).__name__}.fit: {len(fast)} of the {len(eigenvalues)} "
                f"latent coordinates decay within one lag time ({details}; lagtime "
                f"{self.lagtime} frames): they carry no slow process at this lag. "
                "Use fewer n_components (see sklss.model_selection.select_dimension) "
                "or a shorter lagtime.",
                UserWarning,
            )
        return {
            "network_": network,
            "mean_": out_mean,
            "eigenvectors_": eigenvectors,
            "eigenvalues_": eigenvalues,
            "timescales_": _timescales(eigenvalues, self.lagtime),
        }

    def _psi(self, x):
        """Eigenfunction values (float64) for one validated trajectory (read in
        chunks when it is held on disk)."""
        if getattr(x, "_sklss_lazy", False):
            parts = []
            for start, frames in x.iter_chunks():
                check_finite_chunk(frames, "X", start)
                parts.append(self._psi(frames))
            return np.concatenate(parts)
        network = self.network_
        network.eval()
        device = next(network.parameters()).device
        with torch.inference_mode():
            X = self.scaler_.to_tensor(x, device, "X", torch.float64)
            Z = chunked_forward(network, X).cpu().numpy()
        return (Z - self.mean_) @ self.eigenvectors_

    def transform(self, X):
        """Evaluate the slow eigenfunction estimates ``psi_1, ..., psi_m``.

        Parameters
        ----------
        X : array-like of shape (n_frames, n_features) or list of such

        Returns
        -------
        psi : ndarray of shape (n_frames, n_components) or list of such
            Mirrors ``X`` (list in, list out) and keeps its float dtype (float32
            stays float32, everything else becomes float64).

        Raises
        ------
        ValueError
            When ``X`` holds values that lie beyond the float32 range after
            standardisation with the training statistics.
        """
        check_is_fitted(self)
        trajs = check_trajectories(self, X, reset=False)
        check_output_container(self, trajs.is_list)
        return mirror([self._psi(x).astype(x.dtype, copy=False) for x in trajs], trajs)

    def score(self, X, y=None):
        """Reversible VAMP-2 score of the fitted eigenfunctions on ``X``.

        The fitted transform is applied to ``X``; from the time-lagged pairs of
        ``X`` (within trajectories, at the fitted ``lagtime``) the symmetrised
        covariances of ``psi_1 .. psi_m`` are re-estimated and the score
        ``1 + sum_i lambda_i^2`` of ``C1 v = lambda C0 v`` is returned (see
        :mod:`sklss._vamp`). It measures how well the *subspace* spanned by the
        fitted eigenfunctions captures the slow dynamics of ``X``: on held-out data
        it is the cross-validated VAMP-2 score, and it does not depend on the order,
        scaling or rotation of the outputs.

        The value lies in ``[1, 1 + n_components]``. Values are comparable between
        models with the **same** ``lagtime`` and the **same** ``n_components`` (for
        instance across network sizes, activations, learning rates, epochs), on the
        same data. They are not comparable across lag times (eigenvalues decay as
        ``exp(-lagtime / t_i)``, so a longer lag always scores lower) nor across
        ``n_components`` (each extra component adds a non-negative term).

        Parameters
        ----------
        X : array-like of shape (n_frames, n_features) or list of such
            Data with at least one trajectory longer than ``lagtime``.
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        trajs = check_trajectories(self, X, reset=False)
        psi = [self._psi(x) for x in trajs]
        Z0, Z1 = lagged_pairs(psi, self.lagtime, estimator_name=type(self).__name__)
        return reversible_vamp2_score(Z0, Z1, epsilon=float(self.epsilon))

    def get_feature_names_out(self, input_features=None):
        """Output feature names: the class name in lower case and an index.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked against ``feature_names_in_`` (when fitted on a DataFrame) and
            ``n_features_in_``; the output names do not depend on it.

        Returns
        -------
        ndarray of str of shape (n_components,)
            ``["srvtransformer0", "srvtransformer1", ...]``.

        Raises
        ------
        TypeError
            ``input_features`` is neither None nor a sequence of names.
        ValueError
            ``input_features`` has another length than ``n_features_in_`` or
            differs from ``feature_names_in_``.
        """
        check_is_fitted(self)
        if input_features is not None and (
            isinstance(input_features, str | bytes)
            or not hasattr(input_features, "__len__")
            or np.ndim(input_features) != 1
        ):
            raise TypeError(
                "input_features must be None or a sequence of "
                f"{self.n_features_in_} feature names; got {input_features!r} of "
                f"type {type(input_features).__name__}."
            )
        return super().get_feature_names_out(input_features)

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _timescales(eigenvalues, lagtime):
    """``-lagtime / ln(lambda)`` in frames; NaN where ``lambda <= 0``."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    out = np.full(eigenvalues.shape, np.nan)
    positive = eigenvalues > 0
    with np.errstate(divide="ignore"):
        out[positive] = -lagtime / np.log(eigenvalues[positive])
    return out
