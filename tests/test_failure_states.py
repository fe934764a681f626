"""Honest failure states and numerics of the networks and the simulator.

A failed ``fit`` never leaves an estimator that looks fitted; divergence,
interruption and training without progress are reported; inputs far outside the
float32 range are refused instead of turning into infinities.
"""

import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklss import (
    CWGANDecoder,
    LatentSpaceSimulator,
    MDNPropagator,
    SRVTransformer,
)
from sklss._base import AffineScaler
from sklss.exceptions import TrainingDivergedError

SMALL = {"hidden_layer_sizes": (8,), "max_epochs": 3, "random_state": 0}


def _data(n=400):
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.normal(size=(n, 3)), axis=0) * 0.1
    return X, X[:, :2] ** 2 + 0.1 * rng.normal(size=(n, 2))


def _networks():
    return [
        SRVTransformer(lagtime=2, batch_size=100, **SMALL),
        MDNPropagator(n_kernels=2, batch_size=100, **SMALL),
        CWGANDecoder(noise_dim=2, batch_size=100, **SMALL),
    ]


def _ids(est):
    return type(est).__name__


def _fit(est, X, y):
    return est.fit(X, y) if isinstance(est, CWGANDecoder) else est.fit(X)


def _weights(est):
    name = "generator_" if isinstance(est, CWGANDecoder) else "network_"
    return [p.detach().double().clone() for p in getattr(est, name).parameters()]


def _output(est, X):
    """What the fitted estimator computes: transform, log_prob or samples."""
    if isinstance(est, SRVTransformer):
        return est.transform(X)
    if isinstance(est, MDNPropagator):
        return est.log_prob(X[:-1], X[1:])
    return est.sample(X[:50], random_state=0)


def _assert_same_weights(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p, q)


pytestmark = pytest.mark.filterwarnings(
    "ignore:.*max_epochs=.*reached:sklearn.exceptions.ConvergenceWarning",
    "ignore:.*never improved:sklearn.exceptions.ConvergenceWarning",
)


# ------------------------------------------------------------------ failed fits


def _bad_fit(est, X, y):
    """A fit that the data make fail during validation."""
    if isinstance(est, CWGANDecoder):
        return est.fit(X, y[:-5])  # frame counts differ
    return est.set_params(lagtime=500).fit(X)  # too short for the lag


def test_srv_fit_with_too_short_data_leaves_it_unfitted():
    X, _ = _data()
    srv = SRVTransformer(lagtime=500, **SMALL)
    with pytest.raises(ValueError, match="lagtime"):
        srv.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(srv)


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_failed_fit_keeps_the_previous_fit_unchanged(est):
    X, y = _data()
    fitted = _fit(clone(est), X, y)
    weights, output = _weights(fitted), _output(fitted, X)
    state = dict(vars(fitted))
    with pytest.raises(ValueError):
        _bad_fit(fitted, X, y)
    check_is_fitted(fitted)
    fitted_state = {k: v for k, v in vars(fitted).items() if k.endswith("_")}
    assert all(fitted_state[k] is state[k] for k in fitted_state)
    _assert_same_weights(_weights(fitted), weights)
    np.testing.assert_array_equal(_output(fitted, X), output)


def test_failed_simulator_fit_leaves_it_as_it_was():
    X, _ = _data(600)
    kwargs = {
        "encoder": SRVTransformer(n_components=1, **SMALL),
        "propagator": MDNPropagator(n_kernels=2, **SMALL),
        "random_state": 0,
    }
    fresh = LatentSpaceSimulator(lagtime=1000, **kwargs)
    with pytest.raises(ValueError, match="lagtime"):
        fresh.fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)

    sim = LatentSpaceSimulator(lagtime=2, **kwargs).fit(X)
    state = dict(vars(sim))
    latent = sim.transform(X)
    with pytest.raises(ValueError, match="lagtime"):
        sim.set_params(lagtime=1000).fit(X)
    assert all(vars(sim)[k] is v for k, v in state.items() if k.endswith("_"))
    np.testing.assert_array_equal(sim.transform(X), latent)


# ------------------------------------------------------------------- divergence


class _NaNFromEpoch:
    """Network outputs in train mode become NaN once ``epoch`` epochs are done."""

    def __init__(self, epoch):
        self.epoch, self.active = epoch, epoch <= 0

    def callback(self, record):
        self.active = record["epoch"] >= self.epoch
        return False

    def hook(self, module, inputs, output):
        if self.active and module.training and isinstance(module, torch.nn.Sequential):
            return output * np.nan
        return None

    def __enter__(self):
        self.handle = torch.nn.modules.module.register_module_forward_hook(self.hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_divergence_after_good_epochs_raises_and_offers_the_good_weights(est):
    X, y = _data()
    est = clone(est).set_params(max_epochs=5)
    with _NaNFromEpoch(2) as nan, pytest.raises(TrainingDivergedError) as info:
        _fit(est.set_params(callbacks=[nan.callback]), X, y)
    error = info.value
    assert [h["epoch"] for h in error.history] == [1, 2, 3]
    assert not np.isfinite(error.history[-1]["loss"])
    assert "partial_estimator" in str(error)
    # The estimator itself does not look fitted ...
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    # ... the good epochs are offered as a separate, complete fit.
    partial = error.partial_estimator
    check_is_fitted(partial)
    assert partial.converged_ is False and partial.history_ == error.history
    assert all(torch.isfinite(p).all() for p in _weights(partial))
    assert np.all(np.isfinite(_output(partial, X)))


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_divergence_keeps_the_previous_fit(est):
    X, y = _data()
    fitted = _fit(clone(est), X, y)
    weights, output = _weights(fitted), _output(fitted, X)
    with _NaNFromEpoch(0) as nan, pytest.raises(TrainingDivergedError) as info:
        _fit(fitted.set_params(callbacks=[nan.callback], warm_start=True), X, y)
    assert info.value.partial_estimator is None
    assert len(info.value.history) == 1
    _assert_same_weights(_weights(fitted), weights)
    np.testing.assert_array_equal(_output(fitted, X), output)


def test_srv_linear_algebra_failure_is_divergence():
    X, _ = _data()
    srv = SRVTransformer(
        lagtime=1,
        batch_size=50,
        batch_norm=False,
        activation="relu",
        learning_rate_init=1e30,
        **SMALL,
    )
    with pytest.raises(TrainingDivergedError) as info:
        srv.fit(X)
    assert info.value.history
    with pytest.raises(NotFittedError):
        check_is_fitted(srv)


@pytest.mark.parametrize(
    "est",
    [
        MDNPropagator(n_kernels=2, batch_size=50, learning_rate_init=1e30, **SMALL),
        CWGANDecoder(noise_dim=2, batch_size=50, learning_rate_init=1e30, **SMALL),
    ],
    ids=_ids,
)
def test_huge_learning_rate_diverges_and_leaves_the_estimator_unfitted(est):
    X, y = _data()
    with pytest.raises(TrainingDivergedError) as info:
        _fit(est, X, y)
    assert info.value.history and info.value.partial_estimator is None
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


# ---------------------------------------------------------------- interruption


def _interrupt_at(epoch):
    def callback(record):
        if record["epoch"] == epoch:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_keyboard_interrupt_keeps_the_best_weights(est):
    X, y = _data()
    est = clone(est).set_params(max_epochs=5, callbacks=[_interrupt_at(2)])
    with pytest.warns(ConvergenceWarning, match="interrupted.*after 1 complete"):
        _fit(est, X, y)
    check_is_fitted(est)
    assert est.converged_ is False and est.n_epochs_ == 1
    assert np.all(np.isfinite(_output(est, X)))


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_keyboard_interrupt_in_the_first_epoch_propagates(est):
    X, y = _data()
    est = clone(est).set_params(callbacks=[_interrupt_at(1)])
    with pytest.raises(KeyboardInterrupt):
        _fit(est, X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


# ------------------------------------------------------------ progress and MDN


def test_mdn_without_progress_warns_and_samples_finite_values():
    X, _ = _data()
    mdn = MDNPropagator(learning_rate_init=1e4, n_kernels=2, **SMALL)
    with pytest.warns(ConvergenceWarning, match="never improved on its first"):
        mdn.fit(X)
    assert np.all(np.isfinite(mdn.sample(X[:3], n_steps=50, random_state=0)))


def test_mdn_standard_deviations_are_bounded():
    X, _ = _data()
    mdn = MDNPropagator(n_kernels=2, **SMALL).fit(X)
    last = mdn.network_[-1]
    with torch.no_grad():
        # Every scale pre-activation huge; the means and weights as they were.
        last.weight[2 + 2 * 3 :] = 0.0
        last.bias[2 + 2 * 3 :] = 1e30
    _, _, stds = mdn.mixture_parameters(X[:5])
    assert np.all(np.isfinite(stds))
    assert np.all(stds <= 4.0 * mdn.scaler_.scale + 1e-9)
    # One trajectory, a few (numpy samplers) and many (torch sampler).
    for start in (X[0], X[:3], np.repeat(X[:1], 300, axis=0)):
        out = mdn.sample(start, n_steps=200, random_state=0)
        assert np.all(np.isfinite(out))


# -------------------------------------------------------------------- numerics


def test_values_beyond_float32_after_scaling_are_refused():
    X, y = _data()
    srv = SRVTransformer(lagtime=2, **SMALL).fit(X)
    with pytest.raises(ValueError, match=r"X holds .* beyond the float32 range"):
        srv.transform(X * 1e300)
    mdn = MDNPropagator(n_kernels=2, **SMALL).fit(X)
    with pytest.raises(ValueError, match=r"z_from holds .* float32"):
        mdn.log_prob(X[:3] * 1e300, X[:3])
    with pytest.raises(ValueError, match=r"z_to holds .* float32"):
        mdn.log_prob(X[:3], X[:3] * 1e300)
    decoder = CWGANDecoder(noise_dim=2, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match=r"Z holds .* float32"):
        decoder.sample(X[:3] * 1e300)


def test_huge_finite_data_are_standardised_without_overflow():
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        srv = SRVTransformer(lagtime=2, **SMALL).fit(X)
        huge = SRVTransformer(lagtime=2, **SMALL).fit(X * 1e300)
        np.testing.assert_allclose(
            huge.transform(X * 1e300), srv.transform(X), atol=1e-5
        )
        decoder = CWGANDecoder(noise_dim=2, **SMALL).fit(X, y * 1e300)
        out = decoder.sample(X[:20], random_state=0)
    assert np.all(np.isfinite(out)) and np.abs(out).max() > 1e299
    scaler = AffineScaler.standardize(np.array([[1e300], [-1e300]]))
    np.testing.assert_allclose(scaler.scale, [1e300])


def test_tiny_scale_is_learned_and_variation_below_precision_warns():
    X, _ = _data()
    srv = SRVTransformer(lagtime=2, **SMALL).fit(X)
    tiny = SRVTransformer(lagtime=2, **SMALL).fit(X * 1e-13)
    np.testing.assert_allclose(tiny.eigenvalues_, srv.eigenvalues_, atol=1e-5)
    with pytest.warns(UserWarning, match=r"of X .* below working precision"):
        SRVTransformer(lagtime=2, **SMALL).fit(1.0 + 1e-13 * X)
    with pytest.warns(UserWarning, match=r"of Z .* below working precision"):
        MDNPropagator(n_kernels=2, **SMALL).fit(1.0 + 1e-13 * X)
    # The decoder's warning about y points at the line that called fit.
    with pytest.warns(UserWarning, match=r"of y .* below working precision") as rec:
        CWGANDecoder(noise_dim=2, **SMALL).fit(X[:, :1], 1.0 + 1e-13 * X)
    assert {r.filename for r in rec if "of y" in str(r.message)} == {__file__}


def test_large_offset_costs_no_accuracy():
    X, _ = _data()
    # Without batch norm: its statistics make a short training sensitive to any
    # perturbation of the inputs at the 1e-8 level (the grid of X + 1e8).
    srv = SRVTransformer(lagtime=2, batch_norm=False, **SMALL).fit(X)
    shifted = SRVTransformer(lagtime=2, batch_norm=False, **SMALL).fit(X + 1e8)
    np.testing.assert_allclose(shifted.transform(X + 1e8), srv.transform(X), atol=1e-5)
    np.testing.assert_allclose(shifted.eigenvalues_, srv.eigenvalues_, atol=1e-6)

    mdn = MDNPropagator(n_kernels=2, **SMALL).fit(X)
    far = MDNPropagator(n_kernels=2, **SMALL).fit(X + 1e8)
    np.testing.assert_allclose(
        far.log_prob(X[:-1] + 1e8, X[1:] + 1e8),
        mdn.log_prob(X[:-1], X[1:]),
        atol=1e-3,
    )
    np.testing.assert_allclose(
        far.sample(X[:3] + 1e8, n_steps=20, random_state=0) - 1e8,
        mdn.sample(X[:3], n_steps=20, random_state=0),
        atol=1e-4,
    )


# ------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    "est, name",
    [
        (MDNPropagator(**SMALL), "n_kernels"),
        (MDNPropagator(**SMALL), "lagtime"),
        (CWGANDecoder(**SMALL), "noise_dim"),
        (CWGANDecoder(**SMALL), "n_critic"),
        (SRVTransformer(**SMALL), "n_components"),
        (SRVTransformer(**SMALL), "batch_size"),
        (SRVTransformer(**SMALL), "max_epochs"),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_bool_is_not_accepted_for_an_int(est, name):
    X, y = _data()
    est = clone(est).set_params(**{name: True})
    with pytest.raises(ValueError, match=rf"'{name}' parameter .* got True"):
        _fit(est, X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("name", ["lagtime", "n_start_points", "score_horizon"])
def test_simulator_refuses_bool_for_an_int(name):
    X, _ = _data()
    sim = LatentSpaceSimulator(**{name: True})
    with pytest.raises(ValueError, match=rf"'{name}' parameter .* got True"):
        sim.fit(X)


def test_score_horizon_longer_than_the_data_is_refused_quickly():
    X, _ = _data(600)
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=1, **SMALL),
        propagator=MDNPropagator(n_kernels=2, **SMALL),
        lagtime=2,
        random_state=0,
    ).fit(X)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"score_horizon=1000000 .*\(300 frames\)"):
        sim.set_params(score_horizon=1_000_000).score(X[:300])
    assert time.perf_counter() - start < 5


# --------------------------------------------------------------------- tensors


def test_tensors_that_require_grad_are_accepted():
    X, y = _data()
    T = torch.tensor(X, requires_grad=True)
    srv = SRVTransformer(lagtime=2, **SMALL).fit(T)
    np.testing.assert_allclose(srv.transform(T), srv.transform(X))
    mdn = MDNPropagator(n_kernels=2, **SMALL).fit(X)
    np.testing.assert_array_equal(
        mdn.log_prob(T[:-1], T[1:]), mdn.log_prob(X[:-1], X[1:])
    )
    np.testing.assert_array_equal(
        mdn.sample(T[0], n_steps=5, random_state=0),
        mdn.sample(X[0], n_steps=5, random_state=0),
    )
    np.testing.assert_array_equal(
        mdn.mixture_parameters(T[:2])[1], mdn.mixture_parameters(X[:2])[1]
    )
    decoder = CWGANDecoder(noise_dim=2, **SMALL).fit(X, y)
    np.testing.assert_array_equal(
        decoder.sample(T[:5], random_state=0), decoder.sample(X[:5], random_state=0)
    )
    sim = LatentSpaceSimulator(
        encoder=srv.set_params(n_components=1), propagator=mdn, random_state=0
    ).fit(X)
    out = sim.sample(3, start=T[0], start_space="features", random_state=0)
    assert np.all(np.isfinite(out.latent))


# ---------------------------------------------------------------- fitted state


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str, np.generic)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype != object
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, AffineScaler):
        return True
    if isinstance(value, torch.nn.Sequential):
        allowed = (torch.nn.Linear, torch.nn.BatchNorm1d, *_ACTIVATIONS)
        return all(type(m) in allowed for m in value)
    return False


_ACTIVATIONS = (
    torch.nn.ReLU,
    torch.nn.Tanh,
    torch.nn.SiLU,
    torch.nn.ELU,
    torch.nn.GELU,
    torch.nn.LeakyReLU,
    torch.nn.Sigmoid,
    torch.nn.Identity,
)


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_fitted_state_is_plain(est):
    X, y = _data()
    fits = [_fit(clone(est), X, y)]
    with pytest.warns(ConvergenceWarning, match="interrupted"):
        fits.append(_fit(clone(est).set_params(callbacks=[_interrupt_at(2)]), X, y))
    with _NaNFromEpoch(1) as nan, pytest.raises(TrainingDivergedError) as info:
        _fit(clone(est).set_params(callbacks=[nan.callback]), X, y)
    fits.append(info.value.partial_estimator)
    for fitted in fits:
        state = {k: v for k, v in vars(fitted).items() if k.endswith("_")}
        state["_fitted_architecture"] = fitted._fitted_architecture
        bad = {k: type(v).__name__ for k, v in state.items() if not _plain(v)}
        assert not bad


# ------------------------------------------------------ arguments named in errors

TINY = {"hidden_layer_sizes": (4,), "max_epochs": 1, "random_state": 0}


def _tiny_fits():
    X, y = _data(60)
    mdn = MDNPropagator(n_kernels=2, **TINY).fit(X[:, :2])
    decoder = CWGANDecoder(noise_dim=2, n_critic=1, **TINY).fit(X[:, :2], y)
    return X, y, mdn, decoder


def _tiny_simulator(X=None, y=None, **params):
    X = _data(60)[0] if X is None else X
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(n_components=2, **TINY),
        propagator=MDNPropagator(n_kernels=2, **TINY),
        decoder=CWGANDecoder(noise_dim=2, n_critic=1, **TINY),
        n_start_points=20,
        random_state=0,
        **params,
    )
    return sim.fit(X, X if y is None else y)


@pytest.mark.parametrize(
    "est, name, value",
    [
        (SRVTransformer(n_components=2), "hidden_layer_sizes", (10**12,)),
        (SRVTransformer(n_components=2), "hidden_layer_sizes", (4, 2**40)),
        (MDNPropagator(), "hidden_layer_sizes", (10**12,)),
        (MDNPropagator(), "n_kernels", 10**100),
        (CWGANDecoder(), "hidden_layer_sizes", 10**12),
        (CWGANDecoder(), "noise_dim", 10**100),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_networks_too_large_for_memory_are_refused_before_building(est, name, value):
    X, y = _data(60)
    est = clone(est).set_params(**{**TINY, name: value})
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"{name}=.* would need .* memory"):
        _fit(est, X[:, :2], y)
    assert time.perf_counter() - start < 5
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


@pytest.mark.parametrize("est", _networks(), ids=_ids)
@pytest.mark.parametrize("callbacks", [[None], [3], ["x"], [print, 3]])
def test_callbacks_that_are_not_callable_are_refused(est, callbacks):
    X, y = _data(60)
    with pytest.raises(TypeError, match=r"callbacks must be a list of callables"):
        _fit(clone(est).set_params(callbacks=callbacks), X, y)


@pytest.mark.parametrize("est", _networks(), ids=_ids)
def test_learning_rate_beyond_float32_is_refused(est):
    X, y = _data(60)
    with pytest.raises(ValueError, match=r"learning_rate_init must be at most"):
        _fit(clone(est).set_params(learning_rate_init=1e300), X, y)


def test_gradient_penalty_beyond_float32_is_refused():
    X, y = _data(60)
    with pytest.raises(ValueError, match=r"gradient_penalty must be at most"):
        CWGANDecoder(noise_dim=2, gradient_penalty=1e300, **TINY).fit(X, y)


def test_divergence_is_a_value_error_naming_the_learning_rate():
    assert issubclass(TrainingDivergedError, ValueError)
    assert issubclass(TrainingDivergedError, FloatingPointError)
    X, y = _data(60)
    with pytest.raises(ValueError, match=r"learning_rate_init"):
        MDNPropagator(n_kernels=2, learning_rate_init=1e30, **TINY).fit(X)


def test_cwgan_whose_generator_became_non_finite_is_divergence():
    # One batch of one epoch: the last generator update is seen by no loss.
    X, y = _data(40)
    decoder = CWGANDecoder(noise_dim=2, n_critic=1, learning_rate_init=1e30, **TINY)
    with pytest.raises(TrainingDivergedError, match="learning_rate_init"):
        decoder.fit(X[:, :2], y)
    with pytest.raises(NotFittedError):
        check_is_fitted(decoder)


def test_sizes_beyond_memory_are_refused_before_allocating():
    X, _, mdn, _ = _tiny_fits()
    for n_steps in (2**31, 2**63, 10**100):
        with pytest.raises(ValueError, match=r"n_steps=.* would need"):
            mdn.sample(X[:2, :2], n_steps, random_state=0)
    sim = _tiny_simulator()
    with pytest.raises(ValueError, match=r"n_trajectories=2147483648 would need"):
        sim.sample(3, 2**31)
    with pytest.raises(ValueError, match=r"n_steps=9223372036854775808, "):
        sim.sample(2**63, 2)


@pytest.mark.parametrize("random_state", [-1, 2**32, 0.0, "seed", [1, 2], True])
def test_bad_random_states_are_named(random_state):
    X, _, mdn, decoder = _tiny_fits()
    error = ValueError if random_state in (-1, 2**32) else TypeError
    with pytest.raises(error, match="random_state"):
        mdn.sample(X[0, :2], 3, random_state=random_state)
    with pytest.raises(error, match="random_state"):
        decoder.sample(X[:3, :2], random_state=random_state)
    with pytest.raises(error, match="random_state"):
        _tiny_simulator().sample(2, random_state=random_state)


@pytest.mark.parametrize(
    "method, args, name",
    [
        ("log_prob", ([[0.0, 0.0]], [np.zeros((1, 2)), np.zeros(2)]), "z_to"),
        ("log_prob", ([[0.0, 0.0], [1.0]], [[0.0, 0.0]]), "z_from"),
        ("transition_density", ([[0.0, 0.0]], [[0.0], [0.0, 1.0]]), "z_to"),
        ("mixture_parameters", ([np.zeros((1, 2)), np.zeros(2)],), "z_from"),
        ("sample", ([[0.0, 0.0], [1.0]], 3), "start"),
        ("sample", ("ab", 3), "start"),
    ],
)
def test_mdn_ragged_points_are_named(method, args, name):
    _, _, mdn, _ = _tiny_fits()
    with pytest.raises((TypeError, ValueError), match=rf"^{name}\b"):
        getattr(mdn, method)(*args)


def test_mdn_score_names_its_argument_and_far_points_are_finite_or_named():
    X, _, mdn, _ = _tiny_fits()
    with pytest.raises(ValueError, match=r"^X holds"):
        mdn.score(np.array([[1.2e99, -1.3e99], [7.7e99, -2.7e98]]))
    # Far from the training range but within float32: a finite, tiny density.
    ll = mdn.transition_log_likelihood(X[:, :2] * 1e29)
    assert np.all(np.isfinite(ll))


def test_srv_feature_names_out_names_input_features():
    X, _ = _data(60)
    srv = SRVTransformer(n_components=2, **TINY).fit(X)
    for bad in (3, "abc", 1.5):
        with pytest.raises(TypeError, match="input_features"):
            srv.get_feature_names_out(bad)
    with pytest.raises(ValueError, match="input_features"):
        srv.get_feature_names_out(["a"])
    assert list(srv.get_feature_names_out(["a", "b", "c"])) == [
        "srvtransformer0",
        "srvtransformer1",
    ]


@pytest.mark.parametrize("name", ["encoder", "propagator", "decoder", "coordinates"])
@pytest.mark.parametrize("value", [3, "srv", print, MDNPropagator, [1], object()])
def test_simulator_components_that_are_not_estimators_are_named(name, value):
    X, _ = _data(60)
    sim = LatentSpaceSimulator(**{name: value})
    y = X
    if name == "coordinates":
        import importlib.resources

        import mdtraj as md

        path = importlib.resources.files("sklss.datasets") / "data"
        y = md.load(str(path / "alanine-dipeptide.pdb"))
        X = y.xyz.reshape(1, -1)[:, :6].astype(np.float64)
    with pytest.raises(TypeError, match=rf"^{name} must be an estimator instance"):
        sim.fit(X, y)


@pytest.mark.parametrize(
    "transformer", [None, 3, "scaler", print, object(), torch.nn.Linear(1, 1)]
)
def test_framewise_transformer_that_is_not_an_estimator_is_named(transformer):
    from sklss import FrameWise

    X, _ = _data(60)
    with pytest.raises(TypeError, match=r"^transformer must be an estimator"):
        FrameWise(transformer).fit(X)


def test_framewise_inverse_transform_names_x():
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    from sklss import FrameWise

    X, _ = _data(60)
    scaler = FrameWise(StandardScaler()).fit(X)
    for bad in (np.zeros((5, 4)), np.zeros((5, 2)), [X, np.zeros((5, 4))]):
        with pytest.raises(ValueError, match=r"\bX\b"):
            scaler.inverse_transform(bad)
    pca = FrameWise(PCA(n_components=2)).fit(X)
    assert pca.n_features_out_ == 2
    assert pca.inverse_transform(pca.transform(X)).shape == X.shape
    with pytest.raises(ValueError, match=r"^X has 3 features"):
        pca.inverse_transform(X)
    with pytest.raises(ValueError, match=r"StandardScaler.inverse_transform maps X"):
        FrameWise(StandardScaler()).fit(X * 1e10).inverse_transform(X * 1e300)


def test_simulator_score_names_x_and_is_finite_or_refused():
    sim = _tiny_simulator()
    with pytest.raises(ValueError, match=r"^X must hold held-out trajectories"):
        sim.score(np.array([[1.0, 0.0, -2.0]]))
    for value in (0.0, 3.7):
        with pytest.raises(ValueError, match=r"^X is encoded to latent"):
            sim.score(np.full((20, 3), value))


def test_simulator_accepts_a_target_tensor_that_requires_grad():
    X, _ = _data(60)
    sim = _tiny_simulator(y=torch.tensor(X, requires_grad=True))
    assert sim.n_outputs_ == 3


@pytest.mark.parametrize(
    "trajectory, error",
    [
        (2, ValueError),
        (-3, ValueError),
        (1.5, TypeError),
        (True, TypeError),
        ("0", TypeError),
    ],
)
def test_to_mdtraj_validates_the_trajectory_index(trajectory, error):
    import importlib.resources

    import mdtraj as md

    path = importlib.resources.files("sklss.datasets") / "data"
    one = md.load(str(path / "alanine-dipeptide.pdb"))
    rng = np.random.default_rng(0)
    xyz = one.xyz + 0.01 * rng.normal(size=(30, one.n_atoms, 3)).astype(np.float32)
    t = md.Trajectory(xyz, one.topology)
    feats = np.asarray(t.xyz.reshape(len(t), -1)[:, :6], dtype=np.float64)
    result = _tiny_simulator(feats, t).sample(2, 2, random_state=0)
    with pytest.raises(error, match=r"^trajectory must be"):
        result.to_mdtraj(trajectory)
    assert result.to_mdtraj(-1).n_frames == 3


@pytest.mark.parametrize("path", [3, None, b"\x00", ["a"], 1.5])
def test_load_simulator_names_path(path):
    from sklss import load_simulator

    with pytest.raises(TypeError, match=r"^path must be"):
        load_simulator(path)
