"""Tests of MDNPropagator: estimator contract, densities, sampling, bad input."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklss import MDNPropagator
from sklss._mdn import _MEAN_MARGIN, _SIGMA_MIN


def _quiet(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


@parametrize_with_checks(
    [MDNPropagator(n_kernels=2, hidden_layer_sizes=(8,), max_epochs=2, random_state=0)]
)
def test_sklearn_compatible(estimator, check):
    # Every check applies; `sample`, `log_prob` & co. are extra methods the checks
    # do not know about. ConvergenceWarning is expected with max_epochs=2.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _bimodal_walk(n=3000, seed=0):
    """A 2-D latent trajectory hopping between two metastable states."""
    rng = np.random.default_rng(seed)
    state = np.zeros(n, dtype=int)
    for t in range(1, n):
        state[t] = state[t - 1] ^ (rng.random() < 0.02)
    centres = np.array([[-1.0, 0.5], [1.0, -0.5]])
    return centres[state] + 0.2 * rng.normal(size=(n, 2))


@pytest.fixture(scope="module")
def data():
    return _bimodal_walk()


@pytest.fixture(scope="module")
def fitted(data):
    mdn = MDNPropagator(
        n_kernels=4, hidden_layer_sizes=(32, 32), max_epochs=15, random_state=0
    )
    return _quiet(mdn, data)


# --- fitting ----------------------------------------------------------------------


def test_fitted_attributes(fitted, data):
    assert fitted.n_features_in_ == 2 and fitted.n_components_in_ == 2
    assert fitted.n_epochs_ == len(fitted.history_) > 0
    assert {"epoch", "loss", "val_loss"} <= set(fitted.history_[0])
    assert fitted.device_ == "cpu"
    np.testing.assert_allclose(fitted.data_min_, data.min(axis=0))
    np.testing.assert_allclose(fitted.data_max_, data.max(axis=0))


def test_fit_is_reproducible_and_does_not_modify_input(data):
    before = data.copy()
    a = _quiet(MDNPropagator(n_kernels=2, max_epochs=3, random_state=1), data)
    b = _quiet(MDNPropagator(n_kernels=2, max_epochs=3, random_state=1), data)
    np.testing.assert_array_equal(data, before)
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]
    np.testing.assert_array_equal(
        a.sample(data[0], 50, random_state=0), b.sample(data[0], 50, random_state=0)
    )


def test_list_of_trajectories(data):
    trajs = [data[:1000], data[1000:1700], data[1700:]]
    mdn = _quiet(
        MDNPropagator(n_kernels=2, max_epochs=2, lagtime=3, random_state=0), trajs
    )
    ll = mdn.transition_log_likelihood(trajs)
    assert isinstance(ll, list)
    # Transitions are formed within trajectories only.
    assert [len(x) for x in ll] == [997, 697, 1297]
    assert mdn.score(trajs) == pytest.approx(np.concatenate(ll).mean())
    ll_one = mdn.transition_log_likelihood(data)
    assert isinstance(ll_one, np.ndarray) and ll_one.shape == (len(data) - 3,)


# --- densities --------------------------------------------------------------------


def test_log_prob_matches_independent_scipy_mixture(fitted, data):
    """Rebuild the mixture from the raw network output and evaluate it with scipy."""
    rng = np.random.default_rng(1)
    z_from = data[rng.choice(len(data), 50)]
    z_to = z_from + rng.normal(scale=0.3, size=z_from.shape)
    lo, hi = fitted.data_min_, fitted.data_max_
    centre, half = (hi + lo) / 2, (hi - lo) / 2
    with torch.no_grad():
        out = (
            fitted.network_(
                torch.as_tensor((z_from - centre) / half, dtype=torch.float32)
            )
            .double()
            .numpy()
        )
    K, d = fitted.n_kernels, 2
    logits = out[:, :K]
    weights = np.exp(logits - logits.max(1, keepdims=True))
    weights /= weights.sum(1, keepdims=True)
    a = out[:, K : K + K * d].reshape(-1, K, d)
    s = out[:, K + K * d :].reshape(-1, K, d)
    means = (1 + _MEAN_MARGIN) * (2 / (1 + np.exp(-a)) - 1) * half + centre
    stds = (np.logaddexp(s, 0) + _SIGMA_MIN) * half
    density = (
        weights * stats.norm.pdf(z_to[:, None, :], means, stds).prod(axis=2)
    ).sum(axis=1)
    np.testing.assert_allclose(
        fitted.log_prob(z_from, z_to), np.log(density), rtol=1e-4, atol=1e-4
    )
    w, m, sd = fitted.mixture_parameters(z_from)
    np.testing.assert_allclose(w, weights, atol=1e-5)
    np.testing.assert_allclose(m, means, atol=1e-4)
    np.testing.assert_allclose(sd, stds, rtol=1e-4)
    # The grid helper agrees with the paired one.
    grid = fitted.transition_density(z_from[:3], z_to[:5])
    assert grid.shape == (3, 5)
    np.testing.assert_allclose(
        grid[1], np.exp(fitted.log_prob(z_from[1], z_to[:5])), rtol=1e-6
    )


def test_density_integrates_to_one(fitted):
    # Riemann sum of p(z' | z) over a grid wide enough to hold all the mass.
    g = np.linspace(-3, 3, 301)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    pts = np.column_stack([xx.ravel(), yy.ravel()])
    p = np.exp(fitted.log_prob(np.array([0.9, -0.4]), pts))
    assert p.sum() * (g[1] - g[0]) ** 2 == pytest.approx(1.0, abs=1e-3)


def test_units_are_the_users(data):
    """Fitting on 10 z + 5 only changes units: scores shift by the Jacobian."""
    kw = dict(n_kernels=3, hidden_layer_sizes=(16,), max_epochs=4, random_state=0)
    a = _quiet(MDNPropagator(**kw), data)
    b = _quiet(MDNPropagator(**kw), 10 * data + 5)
    assert b.score(10 * data + 5) == pytest.approx(
        a.score(data) - 2 * np.log(10), abs=1e-4
    )
    sa = a.sample(data[:3], 20, random_state=0)
    sb = b.sample(10 * data[:3] + 5, 20, random_state=0)
    np.testing.assert_allclose(sb, 10 * sa + 5, atol=1e-3)


def test_score_is_the_transition_log_likelihood_of_a_known_process():
    """On an AR(1) process the score approaches the exact conditional log-likelihood."""
    rng = np.random.default_rng(0)
    n, a, noise = 6000, 0.8, 0.3
    z = np.zeros(n)
    for t in range(1, n):
        z[t] = a * z[t - 1] + noise * rng.normal()
    Z = z[:, None]
    mdn = _quiet(
        MDNPropagator(
            n_kernels=2, hidden_layer_sizes=(32,), max_epochs=60, random_state=0
        ),
        Z[:4000],
    )
    exact = stats.norm.logpdf(Z[4001:, 0], a * Z[4000:-1, 0], noise).mean()
    assert mdn.score(Z[4000:]) == pytest.approx(exact, abs=0.05)
    # An unrelated density scores worse: the score discriminates.
    wrong = stats.norm.logpdf(Z[4001:, 0], 0.0, noise).mean()
    assert mdn.score(Z[4000:]) > wrong + 0.3


def test_weight_averaging_keeps_the_averaged_network(data):
    params = dict(n_kernels=4, hidden_layer_sizes=(16,), max_epochs=4)
    plain = _quiet(MDNPropagator(random_state=0, ema_decay=0.0, **params), data)
    averaged = _quiet(MDNPropagator(random_state=0, ema_decay=0.99, **params), data)
    # The same training (the average does not feed back into it): identical
    # training losses, but the kept network is the average, which gives another
    # (finite) density and is validated itself.
    assert [h["loss"] for h in plain.history_] == [h["loss"] for h in averaged.history_]
    assert [h["val_loss"] for h in plain.history_] != [
        h["val_loss"] for h in averaged.history_
    ]
    lp_plain, lp_avg = (
        plain.log_prob(data[:-1], data[1:]),
        averaged.log_prob(data[:-1], data[1:]),
    )
    assert np.all(np.isfinite(lp_avg)) and not np.allclose(lp_plain, lp_avg)
    # A warm start trains the averaged network further.
    before = [p.detach().clone() for p in averaged.network_.parameters()]
    _quiet(averaged.set_params(warm_start=True, max_epochs=1), data)
    after = list(averaged.network_.parameters())
    assert not all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_reversible_training_learns_the_time_symmetric_transitions():
    """A driven sequence (steady upward drift on a circle): forwards the mean step
    is +0.1; the reversible fit sees every transition both ways, so its steps of
    +0.1 and -0.1 are equally likely, while the plain fit keeps the drift."""
    rng = np.random.default_rng(0)
    z = (np.arange(3000) * 0.1 + 0.02 * rng.normal(size=3000)) % 3.0
    Z = z[:, None]
    # The last weights: in a fit this short the weight average still lags the
    # learning (reversal is what is tested here).
    kw = {"n_kernels": 2, "hidden_layer_sizes": (32,), "max_epochs": 40}
    kw["ema_decay"] = 0.0
    plain = _quiet(MDNPropagator(random_state=0, **kw), Z)
    rev = _quiet(MDNPropagator(reversible=True, random_state=0, **kw), Z)
    x = np.linspace(0.8, 2.2, 8)[:, None]
    up, down = x + 0.1, x - 0.1
    log_ratio_plain = plain.log_prob(x, up) - plain.log_prob(x, down)
    log_ratio_rev = rev.log_prob(x, up) - rev.log_prob(x, down)
    assert np.all(log_ratio_plain > 2.0)  # forwards only: up >> down
    assert np.all(np.abs(log_ratio_rev) < 1.0)  # both ways: up ~ down
    # The data were not modified, and reversal is a parameter like any other.
    assert rev.get_params()["reversible"] is True


# --- sampling ---------------------------------------------------------------------


@pytest.mark.parametrize("n_traj", [None, 1, 5, 300])
def test_sample_shapes_dtypes_and_reproducibility(fitted, data, n_traj):
    start = data[0] if n_traj is None else data[:n_traj]
    s = fitted.sample(start, 40, random_state=3)
    shape = (41, 2) if n_traj is None else (n_traj, 41, 2)
    assert s.shape == shape and s.dtype == np.float64
    np.testing.assert_allclose(s[..., 0, :] if n_traj else s[0], start)
    assert np.isfinite(s).all()
    np.testing.assert_array_equal(s, fitted.sample(start, 40, random_state=3))
    assert not np.array_equal(s, fitted.sample(start, 40, random_state=4))
    s32 = fitted.sample(start.astype(np.float32), 40, random_state=3)
    assert s32.dtype == np.float32


def test_sample_accepts_lists_and_out(fitted, data):
    s = fitted.sample(data[0].tolist(), 10, random_state=0)
    np.testing.assert_array_equal(s, fitted.sample(data[0], 10, random_state=0))
    out = np.empty((2, 11, 2), dtype=np.float32)
    res = fitted.sample(data[:2], 10, random_state=0, out=out)
    assert res is out
    np.testing.assert_allclose(
        out, fitted.sample(data[:2], 10, random_state=0), atol=1e-5
    )
    assert fitted.sample(data[0], 0).shape == (1, 2)


def test_long_sample_is_chunked(fitted, data):
    # More steps than one chunk of random numbers: chunks join seamlessly and the
    # trajectory stays in the sampled region.
    s = fitted.sample(data[:40], 2000, random_state=0)
    assert np.isfinite(s).all()
    assert np.abs(s).max() < 5


@pytest.mark.parametrize("n_traj", [1, 2, 512, 4000])
def test_one_step_samples_follow_the_mixture(fitted, n_traj):
    """Kolmogorov-Smirnov test of sampled transitions against the learned mixture.

    One trajectory runs the numpy single path (Gumbel-max kernel choice), 2 to 512
    the batched numpy path, more the batched torch path (inverse-CDF choice).
    """
    _check_one_step_samples(fitted, n_traj)


@pytest.mark.parametrize("n_traj", [2, 1000])
def test_one_step_samples_without_hidden_layers(data, n_traj):
    # A single linear layer: the batched samplers have no hidden layers to run.
    mdn = _quiet(
        MDNPropagator(n_kernels=3, hidden_layer_sizes=(), max_epochs=5, random_state=0),
        data,
    )
    _check_one_step_samples(mdn, n_traj)


def _check_one_step_samples(fitted, n_traj):
    z0 = np.array([0.9, -0.4])
    n_runs = max(1, 4000 // n_traj)
    x = np.concatenate(
        [
            fitted.sample(np.tile(z0, (n_traj, 1)), 1, random_state=i)[:, 1]
            for i in range(n_runs)
        ]
    )
    assert len(x) >= 2000
    w, m, sd = fitted.mixture_parameters(z0)
    for j in range(2):

        def cdf(v, j=j):
            return (w[0] * stats.norm.cdf(v[:, None], m[0, :, j], sd[0, :, j])).sum(1)

        assert stats.kstest(x[:, j], cdf).pvalue > 1e-3


def test_start_outside_training_range_is_clipped_with_warning(fitted):
    far = np.array([100.0, -100.0])
    with pytest.warns(UserWarning, match="start lies outside the range"):
        s = fitted.sample(far, 20, random_state=0)
    assert np.isfinite(s).all()
    span = fitted.data_max_ - fitted.data_min_
    np.testing.assert_allclose(
        s[0],
        [fitted.data_max_[0] + 0.05 * span[0], fitted.data_min_[1] - 0.05 * span[1]],
    )


def test_verbose_progress_bar(data, capsys):
    mdn = _quiet(
        MDNPropagator(n_kernels=2, max_epochs=2, random_state=0, verbose=True),
        data[:300],
    )
    mdn.sample(data[0], 10, random_state=0)
    assert "MDNPropagator.sample" in capsys.readouterr().err


def test_pickle_round_trip_samples_identically(fitted, data):
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        clone.sample(data[:3], 30, random_state=5),
        fitted.sample(data[:3], 30, random_state=5),
    )
    np.testing.assert_array_equal(
        clone.log_prob(data[:9], data[1:10]), fitted.log_prob(data[:9], data[1:10])
    )


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "Z, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "Input Z contains NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0], [3.0, 4.0]]), "Input Z contains inf"),
        (np.zeros(10), "Expected 2D array, got 1D array"),
        (np.zeros((3, 4, 2)), r"got an array of shape \(3, 4, 2\)"),
        (np.zeros((1, 2)), "n_samples = 1"),
    ],
)
def test_fit_rejects_bad_Z(Z, match):
    with pytest.raises(ValueError, match=match):
        MDNPropagator(max_epochs=1).fit(Z)


def test_bad_parameters():
    Z = np.random.default_rng(0).normal(size=(20, 1))
    with pytest.raises(ValueError, match="'n_kernels' parameter.*Got 0"):
        MDNPropagator(n_kernels=0).fit(Z)
    with pytest.raises(ValueError, match="'lagtime' parameter"):
        MDNPropagator(lagtime=0).fit(Z)
    with pytest.raises(ValueError, match="CUDA is not available|hidden_layer_sizes"):
        if torch.cuda.is_available():
            MDNPropagator(hidden_layer_sizes=(0,)).fit(Z)
        else:
            MDNPropagator(device="cuda").fit(Z)


def test_sample_before_fit():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MDNPropagator().sample(np.zeros(2), 10)


@pytest.mark.parametrize(
    "start, n_steps, exc, match",
    [
        (np.zeros(3), 5, ValueError, "start has 3 components.*expecting 2"),
        (np.zeros((4, 1)), 5, ValueError, "start has 1 components.*expecting 2"),
        (np.zeros((2, 2, 2)), 5, ValueError, r"start must have shape.*\(2, 2, 2\)"),
        (np.array([np.nan, 0.0]), 5, ValueError, "Input start contains NaN"),
        (np.array([np.inf, 0.0]), 5, ValueError, "start contains inf"),
        (np.zeros(2), -1, ValueError, "n_steps must be an int >= 0; got -1"),
        (np.zeros(2), 2.5, TypeError, "n_steps must be an int >= 0; got 2.5"),
        (np.zeros(2), True, TypeError, "n_steps must be an int >= 0"),
    ],
)
def test_sample_rejects_bad_input(fitted, start, n_steps, exc, match):
    with pytest.raises(exc, match=match):
        fitted.sample(start, n_steps)


def test_bad_out_and_points(fitted, data):
    with pytest.raises(ValueError, match=r"out must be .* shape \(11, 2\)"):
        fitted.sample(data[0], 10, out=np.empty((10, 2)))
    with pytest.raises(ValueError, match="same number of points; got 3 and 2"):
        fitted.log_prob(data[:3], data[:2])
    with pytest.raises(ValueError, match="X has 3 features, but MDNPropagator"):
        fitted.score(np.zeros((10, 3)))


def test_numpy_and_torch_samplers_agree_over_many_steps(fitted):
    """Two-sample KS of the state after 20 steps: batched numpy vs batched torch."""
    z0 = np.array([0.9, -0.4])
    numpy_path = np.concatenate(
        [fitted.sample(np.tile(z0, (200, 1)), 20, random_state=i) for i in range(20)]
    )[:, -1]
    torch_path = fitted.sample(np.tile(z0, (4000, 1)), 20, random_state=99)[:, -1]
    for j in range(2):
        assert stats.ks_2samp(numpy_path[:, j], torch_path[:, j]).pvalue > 1e-3
