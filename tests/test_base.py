"""The shared base of the network estimators: one contract for SRV, MDN and cWGAN."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklss import CWGANDecoder, MDNPropagator, SRVTransformer
from sklss._base import AffineScaler, WeightAveraging
from sklss._torch import ACTIVATIONS, NUMPY_ACTIVATIONS, BufferedForward, make_mlp

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data():
    rng = np.random.default_rng(0)
    X = np.cumsum(rng.normal(size=(400, 3)), axis=0) * 0.1
    return X, X[:, :2] ** 2 + 0.1 * rng.normal(size=(400, 2))


def _networks():
    small = {"hidden_layer_sizes": (8,), "max_epochs": 3, "random_state": 0}
    return [
        SRVTransformer(lagtime=2, batch_size=100, **small),
        MDNPropagator(n_kernels=2, **small),
        CWGANDecoder(noise_dim=2, batch_size=100, **small),
    ]


def _fit(est, X, y):
    return est.fit(X, y) if isinstance(est, CWGANDecoder) else est.fit(X)


def _weights(est):
    name = "generator_" if isinstance(est, CWGANDecoder) else "network_"
    return [p.detach().double().clone() for p in getattr(est, name).parameters()]


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_common_fitted_attributes(est):
    X, y = _data()
    est = _fit(clone(est), X, y)
    assert est.converged_ in (True, False)
    assert est.n_epochs_ == len(est.history_) == 3
    assert est.device_ == "cpu" and est.n_features_in_ == 3


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_warm_start_continues_from_the_previous_weights(est):
    X, y = _data()
    first = _fit(clone(est), X, y)
    before = _weights(first)
    # Two epochs: enough batches for a generator update of the decoder.
    cold = _fit(clone(est).set_params(max_epochs=2), X, y)
    warm = _fit(first.set_params(warm_start=True, max_epochs=2), X, y)
    after = _weights(warm)
    # More epochs move the weights a little from where they were, and a cold
    # fit of one epoch from the same seed lands elsewhere.
    step = sum(float((a - b).abs().max()) for a, b in zip(after, before, strict=True))
    gap = sum(
        float((a - c).abs().max()) for a, c in zip(after, _weights(cold), strict=True)
    )
    assert 0 < step < gap
    assert warm.n_epochs_ == 2


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_warm_start_refuses_a_different_network(est):
    X, y = _data()
    fitted = _fit(clone(est), X, y)
    fitted.set_params(warm_start=True, hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match=r"warm_start=True.*hidden_layer_sizes"):
        _fit(fitted, X, y)
    fitted.set_params(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="warm_start=True.*features"):
        _fit(fitted, X[:, :2], y)


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_failed_fit_leaves_the_estimator_as_it_was(est):
    X, y = _data()
    bad = np.array(X)
    bad[5, 0] = np.nan
    fresh = clone(est)
    with pytest.raises(ValueError):
        _fit(fresh, bad, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)
    assert not hasattr(fresh, "n_features_in_")

    fitted = _fit(clone(est), X, y)
    state = dict(vars(fitted))
    with pytest.raises(ValueError):
        _fit(fitted, bad, y)
    assert vars(fitted).keys() == state.keys()
    assert all(vars(fitted)[k] is v for k, v in state.items())


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_callbacks_see_each_epoch_and_can_stop(est):
    X, y = _data()
    seen = []

    def stop_after_two(record):
        seen.append(dict(record))
        return record["epoch"] == 2

    fitted = _fit(clone(est).set_params(callbacks=[stop_after_two], max_epochs=5), X, y)
    assert [r["epoch"] for r in seen] == [1, 2]
    assert fitted.n_epochs_ == 2 and fitted.converged_
    assert all("loss" in r for r in seen)


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_linear_schedule_decays_to_zero(est):
    X, y = _data()
    fitted = _fit(clone(est).set_params(learning_rate="linear"), X, y)
    rates = [h["learning_rate"] for h in fitted.history_]
    lr0 = fitted.learning_rate_init
    np.testing.assert_allclose(rates, [lr0 * 2 / 3, lr0 / 3, 0.0], atol=1e-12)
    constant = _fit(clone(est).set_params(learning_rate="constant"), X, y)
    assert "learning_rate" not in constant.history_[0]


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_former_learning_rate_spelling_is_deprecated(est):
    X, y = _data()
    new = _fit(clone(est).set_params(learning_rate_init=3e-3), X, y)
    with pytest.warns(FutureWarning, match="learning_rate_init"):
        old = _fit(clone(est).set_params(learning_rate=3e-3), X, y)
    # The float is read as the step size, with the class's default schedule.
    assert old.history_[-1]["loss"] == new.history_[-1]["loss"]


def test_former_schedule_name_of_the_decoder_is_deprecated():
    X, y = _data()
    est = _networks()[2]
    new = est.set_params(learning_rate="constant").fit(X, y)
    with pytest.warns(FutureWarning, match="learning_rate_schedule"):
        old = clone(est).set_params(learning_rate_schedule="constant").fit(X, y)
    assert old.history_[-1]["loss"] == new.history_[-1]["loss"]


@pytest.mark.parametrize("est", _networks()[1:], ids=lambda e: type(e).__name__)
def test_random_state_of_sample_is_keyword_only(est):
    X, y = _data()
    est = _fit(clone(est), X, y)
    args = (X[:3], 5) if isinstance(est, MDNPropagator) else (X[:3, :3],)
    expected = est.sample(*args, random_state=1)
    with pytest.warns(FutureWarning, match="random_state=1 as keyword"):
        got = est.sample(*args, 1)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("est", _networks(), ids=lambda e: type(e).__name__)
def test_torch_device_is_accepted(est):
    X, y = _data()
    fitted = _fit(clone(est).set_params(device=torch.device("cpu")), X, y)
    assert fitted.device_ == "cpu"


def test_affine_scaler_standardises_in_float64():
    rng = np.random.default_rng(0)
    X = np.column_stack([1e8 + rng.normal(size=1000), np.full(1000, 3.0)])
    scaler = AffineScaler.standardize(X)
    Y = scaler.transform(X)
    # float64 throughout: a float32 cast before centring would be off by ~10.
    np.testing.assert_allclose(Y[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(Y[:, 0].std(), 1, rtol=1e-9)
    assert scaler.scale[1] == 1.0 and np.all(Y[:, 1] == 0)  # constant feature
    np.testing.assert_allclose(scaler.inverse_transform(Y), X, rtol=1e-15)
    ranged = AffineScaler.from_range(X[:, :1], half_width=0.9)
    np.testing.assert_allclose(np.abs(ranged.transform(X[:, :1])).max(), 0.9)
    t = torch.as_tensor(Y[:5], dtype=torch.float32)
    np.testing.assert_allclose(
        scaler.inverse(t).numpy(), X[:5].astype(np.float32), rtol=1e-6
    )


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_numpy_activations_match_torch(name):
    h = np.random.default_rng(0).normal(scale=3, size=(50, 7)).astype(np.float32)
    expected = ACTIVATIONS[name]()(torch.from_numpy(h.copy())).numpy()
    np.testing.assert_allclose(NUMPY_ACTIVATIONS[name](h.copy()), expected, atol=2e-6)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_buffered_forward_matches_the_network(name):
    # In-place activations into reused buffers give the module's own output, for
    # full and partial batches and on repeated calls; the input is not modified.
    torch.manual_seed(0)
    net = make_mlp(5, (16, 8), 3, activation=name, output_activation="tanh").eval()
    forward = BufferedForward(net, 40, "cpu")
    with torch.inference_mode():
        for n in (40, 7, 40):
            x = torch.randn(n, 5) * 3
            x0 = x.clone()
            expected = net(x)
            torch.testing.assert_close(forward(x), expected, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(x, x0, rtol=0, atol=0)


@pytest.mark.parametrize("every", [1, 3])
def test_weight_averaging_is_the_warmed_up_exponential_average(every):
    # The average against the recurrence written out in numpy: after every
    # ``every``-th step t (counted in updates), a <- d_t a + (1 - d_t) w with
    # d_t = min(decay, (1 + t) / (10 + t)), starting from the initial weights.
    module = torch.nn.Linear(3, 1, bias=False)
    rng = np.random.default_rng(0)
    decay = 0.9
    averaging = WeightAveraging(module, decay, every=every)
    expected = module.weight.detach().numpy().astype(np.float64).copy()
    for step in range(1, 61):
        w = rng.normal(size=(1, 3))
        with torch.no_grad():
            module.weight.copy_(torch.as_tensor(w))
        averaging.on_batch_end({})
        if step % every == 0:
            t = step // every
            d = min(decay, (1 + t) / (10 + t))
            expected = d * expected + (1 - d) * w
    averaged = averaging.average.module.weight.detach().numpy()
    np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-6)
    assert not averaging.average.module.weight.requires_grad


def test_warnings_point_at_the_callers_line():
    X, _ = _data()
    est = MDNPropagator(n_kernels=2, hidden_layer_sizes=(4,), max_epochs=1)
    with pytest.warns(FutureWarning) as future:
        est.set_params(learning_rate=1e-3).fit(X)
    with pytest.warns(Warning) as convergence:
        est.set_params(learning_rate="constant").fit(X)
    for record in [*future, *convergence]:
        assert record.filename == __file__
