"""Tests of SRVTransformer: sklearn contract, science against references, bad input."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklss import SRVTransformer
from sklss._srv import _timescales
from sklss._vamp import reversible_covariances, reversible_eig, reversible_vamp2_score


@pytest.fixture(scope="module")
def linear_data(ar1):
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(4, 4))
    return ar1(6000, [0.97, 0.85, 0.5, 0.1], rng, mix=mix) * 3.0 + 1.0


@pytest.fixture(scope="module")
def small_fit(linear_data):
    """A quick nonlinear fit reused by the property tests."""
    srv = SRVTransformer(
        lagtime=2,
        hidden_layer_sizes=(16,),
        max_epochs=5,
        batch_size=2000,
        random_state=0,
    )
    with pytest.warns(ConvergenceWarning):
        srv.fit(linear_data)
    return srv


# scikit-learn's checks feed small random arrays; a few epochs keep them fast. Every
# check applies: a single array is one trajectory, so nothing is skipped.
@parametrize_with_checks(
    [
        SRVTransformer(max_epochs=3, hidden_layer_sizes=(8,), random_state=0),
        SRVTransformer(
            lagtime=2,
            n_components=1,
            hidden_layer_sizes=(),
            max_epochs=3,
            validation_fraction=0.0,
            random_state=0,
        ),
    ]
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_linear_limit_equals_deeptime_tica(linear_data):
    from deeptime.decomposition import TICA

    lagtime = 3
    tica = TICA(lagtime=lagtime, dim=2, scaling=None).fit(linear_data).fetch_model()
    srv = SRVTransformer(
        lagtime=lagtime,
        hidden_layer_sizes=(),
        batch_size=500,
        random_state=0,
    ).fit(linear_data)
    np.testing.assert_allclose(srv.eigenvalues_, tica.singular_values[:2], rtol=0.01)
    # Same subspace: TICA's components are linear combinations of the SRV outputs.
    psi = srv.transform(linear_data)
    t = tica.transform(linear_data)
    coef, *_ = np.linalg.lstsq(np.c_[psi, np.ones(len(psi))], t, rcond=None)
    resid = t - np.c_[psi, np.ones(len(psi))] @ coef
    assert np.abs(resid).max() / np.abs(t).max() < 0.02


def test_outputs_are_ordered_orthonormal_eigenfunctions(small_fit, linear_data):
    srv = small_fit
    psi = srv.transform(linear_data)
    Z0, Z1 = psi[: -srv.lagtime], psi[srv.lagtime :]
    # Over the training pairs (both halves): zero mean, identity C0, diagonal C1.
    mean = np.concatenate([Z0, Z1]).mean(axis=0)
    np.testing.assert_allclose(mean, 0, atol=1e-6)
    C0 = (Z0.T @ Z0 + Z1.T @ Z1) / (2 * len(Z0))
    C1 = (Z0.T @ Z1 + Z1.T @ Z0) / (2 * len(Z0))
    np.testing.assert_allclose(C0, np.eye(2), atol=1e-4)
    np.testing.assert_allclose(C1, np.diag(srv.eigenvalues_), atol=1e-4)
    assert srv.eigenvalues_[0] >= srv.eigenvalues_[1]
    np.testing.assert_allclose(
        srv.timescales_, -srv.lagtime / np.log(srv.eigenvalues_), rtol=1e-12
    )
    # On its training data the score is 1 + sum of squared eigenvalues.
    assert srv.score(linear_data) == pytest.approx(
        1 + np.sum(srv.eigenvalues_**2), rel=1e-6
    )


def test_fitted_attributes(small_fit):
    srv = small_fit
    assert srv.n_features_in_ == 4
    assert srv.n_epochs_ == len(srv.history_) == 5
    assert {"epoch", "loss", "val_loss", "duration"} <= set(srv.history_[0])
    assert srv.device_ == "cpu"
    assert not srv.converged_
    assert list(srv.get_feature_names_out()) == ["srvtransformer0", "srvtransformer1"]


def test_timescales_of_nonpositive_eigenvalues_are_nan():
    ts = _timescales(np.array([0.5, 0.0, -0.2]), lagtime=4)
    assert ts[0] == pytest.approx(-4 / np.log(0.5))
    assert np.isnan(ts[1]) and np.isnan(ts[2])


def test_no_lagged_pair_crosses_a_trajectory_boundary(ar1):
    # Short trajectories alternating between two distant regions: every pair across
    # a boundary would carry a jump of ~100 (the slowest "process" would then decay
    # within the lag) and change the covariances, eigenvalues and score drastically.
    rng = np.random.default_rng(1)
    trajs = [ar1(60, [0.9, 0.5], rng) + (50.0 if i % 2 else -50.0) for i in range(10)]
    lag = 5
    srv = SRVTransformer(
        lagtime=lag, hidden_layer_sizes=(), max_epochs=20, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        srv.fit(trajs)
    psi = srv.transform(trajs)
    within0 = np.concatenate([p[:-lag] for p in psi])
    within1 = np.concatenate([p[lag:] for p in psi])
    eigenvalues, _ = reversible_eig(
        *reversible_covariances(within0, within1)[1:], epsilon=srv.epsilon
    )
    np.testing.assert_allclose(srv.eigenvalues_, eigenvalues, atol=1e-9)
    assert srv.eigenvalues_[0] > 0.99  # the two regions never exchange
    expected = reversible_vamp2_score(within0, within1, epsilon=srv.epsilon)
    assert srv.score(trajs) == pytest.approx(expected, rel=1e-9)
    # The concatenation has crossing pairs and must score differently.
    joined = np.concatenate(psi)
    crossing = reversible_vamp2_score(joined[:-lag], joined[lag:], srv.epsilon)
    assert expected - crossing > 0.1
    assert srv.score(np.concatenate(trajs)) == pytest.approx(crossing, rel=1e-9)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_short_trajectories_are_skipped_with_warning(linear_data):
    srv = SRVTransformer(lagtime=5, hidden_layer_sizes=(), max_epochs=2)
    with pytest.warns(UserWarning, match="shorter than lagtime"):
        srv.fit([linear_data[:1000], linear_data[:3]])


def test_list_in_list_out_and_dtype(small_fit, linear_data):
    parts = [linear_data[:100], linear_data[100:250]]
    out = small_fit.transform(parts)
    assert isinstance(out, list) and [o.shape for o in out] == [(100, 2), (150, 2)]
    np.testing.assert_allclose(
        np.concatenate(out), small_fit.transform(linear_data[:250]), atol=1e-12
    )
    out32 = small_fit.transform([p.astype(np.float32) for p in parts])
    assert all(o.dtype == np.float32 for o in out32)
    assert small_fit.transform(parts[0].astype(np.float32)).dtype == np.float32
    assert small_fit.transform(parts[0].astype(np.int64)).dtype == np.float64
    # A tuple of trajectories also gives a list.
    assert isinstance(small_fit.transform(tuple(parts)), list)


def test_fit_on_float32_and_input_not_modified(linear_data):
    X = linear_data.astype(np.float32)
    X_copy = X.copy()
    srv = SRVTransformer(hidden_layer_sizes=(), max_epochs=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        Z = srv.fit_transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_array_equal(X, X_copy)


def test_pickle_round_trip_gives_identical_transform(small_fit, linear_data):
    clone = pickle.loads(pickle.dumps(small_fit))
    np.testing.assert_array_equal(
        clone.transform(linear_data), small_fit.transform(linear_data)
    )
    assert clone.score(linear_data) == small_fit.score(linear_data)


def test_reproducible_with_random_state(linear_data):
    kwargs = dict(hidden_layer_sizes=(8,), max_epochs=3, batch_size=1000)
    with pytest.warns(ConvergenceWarning):
        a = SRVTransformer(random_state=3, **kwargs).fit(linear_data)
        b = SRVTransformer(random_state=3, **kwargs).fit(linear_data)
        c = SRVTransformer(random_state=4, **kwargs).fit(linear_data)
    np.testing.assert_array_equal(a.transform(linear_data), b.transform(linear_data))
    assert not np.allclose(a.transform(linear_data), c.transform(linear_data))
    # Fitting does not touch torch's global generator.
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    with pytest.warns(ConvergenceWarning):
        SRVTransformer(random_state=3, **kwargs).fit(linear_data)
    assert torch.rand(1) == expected


def test_convergence_warning_and_early_stopping(linear_data):
    with pytest.warns(ConvergenceWarning, match="max_epochs=1"):
        srv = SRVTransformer(hidden_layer_sizes=(), max_epochs=1).fit(linear_data)
    assert not srv.converged_
    srv = SRVTransformer(
        hidden_layer_sizes=(),
        max_epochs=200,
        n_iter_no_change=2,
        tol=0.5,
        random_state=0,
    ).fit(linear_data)
    assert srv.converged_ and srv.n_epochs_ == 3


def test_verbose_progress_bar(linear_data, capsys):
    with pytest.warns(ConvergenceWarning):
        SRVTransformer(hidden_layer_sizes=(), max_epochs=2, verbose=True).fit(
            linear_data
        )
    assert "SRVTransformer" in capsys.readouterr().err


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, 1.0], [np.nan, 1.0], [1.0, 2.0]]), "contains NaN"),
        (np.array([[0.0, 1.0], [np.inf, 1.0], [1.0, 2.0]]), "contains infinity"),
        (np.zeros(10), "Expected 2D array, got 1D array"),
        (np.zeros((3, 10, 2)), r"must be a 2-D array .* shape \(3, 10, 2\)"),
        ([], "X is an empty list"),
        ([np.zeros((10, 2)), np.zeros((10, 3))], r"same number of features.*\[2, 3\]"),
        (np.zeros((1, 2)), "lagtime \\+ 1 = 2 frames"),
    ],
)
def test_bad_fit_input(X, match):
    with pytest.raises(ValueError, match=match):
        SRVTransformer(max_epochs=1).fit(X)


def test_bad_parameters(linear_data):
    with pytest.raises(ValueError, match="n_components = 5 must be <= n_features = 4"):
        SRVTransformer(n_components=5).fit(linear_data)
    with pytest.raises(ValueError, match="'lagtime' parameter of SRVTransformer"):
        SRVTransformer(lagtime=0).fit(linear_data)
    with pytest.raises(ValueError, match="'activation' parameter"):
        SRVTransformer(activation="softplusplus").fit(linear_data)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a tuple"):
        SRVTransformer(hidden_layer_sizes=(10, 0)).fit(linear_data)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda(linear_data):
    with pytest.raises(ValueError, match="device='cuda'.*CUDA is not available"):
        SRVTransformer(device="cuda").fit(linear_data)


def test_feature_mismatch_after_fit(small_fit, linear_data):
    for method in (small_fit.transform, small_fit.score):
        with pytest.raises(ValueError, match="X has 3 features.*expecting 4"):
            method(linear_data[:, :3])
    with pytest.raises(ValueError, match=r"X\[1\] has 3 features.*expecting 4|same"):
        small_fit.transform([linear_data[:10], linear_data[:10, :3]])


def test_score_needs_lagged_pairs(small_fit, linear_data):
    with pytest.raises(ValueError, match="lagtime \\+ 1 = 3 frames"):
        small_fit.score(linear_data[:2])


@pytest.mark.slow
def test_swissroll_timescale_matches_markov_model():
    # The hidden chain's exact slowest time scale, and a deeptime MSM on the hidden
    # states of the same trajectory, are the fine-grained references.
    from deeptime.markov.msm import MaximumLikelihoodMSM

    from sklss.datasets import make_swissroll
    from sklss.datasets._swissroll import swissroll_transition_matrix

    X, states = make_swissroll(50_000, return_states=True, random_state=0)
    held_out = make_swissroll(50_000, random_state=1)
    lag = 10
    srv = SRVTransformer(lagtime=lag, random_state=0).fit(X)
    msm = MaximumLikelihoodMSM(lagtime=lag).fit(states).fetch_model()
    exact = -1 / np.log(np.sort(np.linalg.eigvals(swissroll_transition_matrix()))[-2])
    assert srv.timescales_[0] == pytest.approx(msm.timescales()[0], rel=0.15)
    assert srv.timescales_[0] == pytest.approx(exact.real, rel=0.15)
    # Held-out score beats linear TICA (the embedding is nonlinear).
    tica = SRVTransformer(lagtime=lag, hidden_layer_sizes=(), random_state=0).fit(X)
    # ... and the linear limit's score is deeptime TICA's on the same data.
    from deeptime.decomposition import TICA

    ref = TICA(lagtime=lag, dim=2, scaling=None).fit(X).fetch_model()
    np.testing.assert_allclose(tica.eigenvalues_, ref.singular_values[:2], rtol=0.01)
    assert srv.score(held_out) > tica.score(held_out) + 0.05


def test_a_coordinate_without_slow_process_is_warned_about(ar1):
    # One slow AR(1) feature and two white-noise ones: one slow process only.
    rng = np.random.default_rng(3)
    slow = ar1(4000, 0.99, rng)
    X = np.column_stack([slow, rng.normal(size=(4000, 2))])
    kwargs = dict(lagtime=5, hidden_layer_sizes=(16,), max_epochs=15, random_state=0)
    with pytest.warns(UserWarning, match=r"1 of the 2 latent coordinates decay") as rec:
        srv = SRVTransformer(n_components=2, **kwargs).fit(X)
    assert srv.eigenvalues_[1] <= np.exp(-1)
    assert any(w.filename == __file__ for w in rec if "decay" in str(w.message))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        one = SRVTransformer(n_components=1, **kwargs).fit(X)
    assert one.eigenvalues_[0] > np.exp(-1)
