"""Tests of CWGANDecoder: conformance, a conditional toy with known truth, API."""

import pickle
import re

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklss import CWGANDecoder
from sklss._torch import seed_from_random_state, torch_generator


@parametrize_with_checks(
    [
        CWGANDecoder(
            noise_dim=4,
            hidden_layer_sizes=(16,),
            max_epochs=2,
            batch_size=32,
            random_state=0,
        )
    ]
)
def test_sklearn_compatible(estimator, check):
    # Every check applies: the target of the decoder is fit's y.
    check(estimator)


# --- a conditional toy with known truth --------------------------------------------


def _mean(psi):
    return 2.0 * psi


def _sd(psi):
    return 0.1 + 0.1 * (psi + 1.0)


def _toy(n, rng, bimodal=False):
    """x1 | ψ ~ N(2ψ, (0.1 + 0.1(ψ+1))^2); x2 | ψ = ±(0.5 + 0.5ψ^2) + noise."""
    psi = rng.uniform(-1, 1, size=(n, 1))
    x1 = _mean(psi[:, 0]) + _sd(psi[:, 0]) * rng.normal(size=n)
    if not bimodal:
        return psi, x1[:, None]
    sign = rng.choice([-1.0, 1.0], size=n)
    x2 = sign * (0.5 + 0.5 * psi[:, 0] ** 2) + 0.05 * rng.normal(size=n)
    return psi, np.column_stack([x1, x2])


def _per_bin(decoder, grid, n_per_bin):
    Z = np.repeat(grid[:, None], n_per_bin, axis=0)
    return decoder.sample(Z, random_state=1).reshape(len(grid), n_per_bin, -1)


def test_conditional_toy_matches_truth():
    # Fast version: 4000 frames, a small network, 9600 critic updates (with the
    # learning rate decaying to zero, 4800 leave the spread at ψ = 0 at 0.3-0.6). The
    # conditional mean runs over [-1.8, 1.8] and the spread grows 2.6-fold
    # across the bins, so a decoder that ignores ψ (mean error up to 1.6, one
    # common spread) or collapses (spread 0) fails the tolerances by far.
    rng = np.random.default_rng(0)
    Z, X = _toy(4000, rng)
    # Only 1920 generator updates: the default ema_decay=0.999 (an average over
    # the last ~1000 updates) would span half of training, so the average here
    # spans the last ~100.
    decoder = CWGANDecoder(
        noise_dim=4,
        hidden_layer_sizes=(64, 64),
        learning_rate_init=3e-4,
        ema_decay=0.99,
        batch_size=256,
        max_epochs=600,
        random_state=0,
    ).fit(Z, X)
    grid = np.linspace(-0.8, 0.8, 5)
    G = _per_bin(decoder, grid, 4000)[:, :, 0]
    mean_err = np.abs(G.mean(axis=1) - _mean(grid))
    sd_ratio = G.std(axis=1) / _sd(grid)
    assert np.all(mean_err < 0.15), (mean_err, sd_ratio)
    assert np.all((sd_ratio > 0.6) & (sd_ratio < 1.6)), (mean_err, sd_ratio)


@pytest.mark.slow
def test_conditional_toy_bimodal_matches_truth():
    # A heteroscedastic Gaussian coordinate and a bimodal one whose mode
    # separation depends on ψ, with the paper's 3-layer Swish architecture
    # narrowed to 64 units.
    rng = np.random.default_rng(0)
    Z, X = _toy(20000, rng, bimodal=True)
    decoder = CWGANDecoder(
        noise_dim=8,
        hidden_layer_sizes=(64, 64, 64),
        learning_rate_init=3e-4,
        batch_size=256,
        max_epochs=300,
        random_state=0,
    ).fit(Z, X)
    grid = np.linspace(-0.9, 0.9, 7)
    G = _per_bin(decoder, grid, 4000)
    mean_err = np.abs(G[:, :, 0].mean(axis=1) - _mean(grid))
    sd_ratio = G[:, :, 0].std(axis=1) / _sd(grid)
    separation = 0.5 + 0.5 * grid**2
    upper = (G[:, :, 1] > 0).mean(axis=1)
    abs_err = np.abs(np.abs(G[:, :, 1]).mean(axis=1) - separation)
    report = dict(mean_err=mean_err, sd_ratio=sd_ratio, upper=upper, abs_err=abs_err)
    assert np.all(mean_err < 0.1), report
    assert np.all((sd_ratio > 0.7) & (sd_ratio < 1.4)), report
    assert np.all((upper > 0.35) & (upper < 0.65)), report
    assert np.all(abs_err < 0.1), report


# --- API -------------------------------------------------------------------------


def _small(**params):
    defaults = dict(
        noise_dim=3, hidden_layer_sizes=(16, 16), max_epochs=3, batch_size=64
    )
    return CWGANDecoder(**{**defaults, **params})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    Z, X = _toy(300, rng, bimodal=True)
    return Z, X


@pytest.fixture(scope="module")
def fitted(data):
    return _small(random_state=0).fit(*data)


def test_fitted_attributes_and_history(fitted, data):
    Z, X = data
    assert fitted.n_features_in_ == 1
    assert fitted.n_features_out_ == 2
    assert fitted.n_epochs_ == len(fitted.history_) == 3
    for key in ("loss", "critic_loss", "generator_loss", "wasserstein"):
        assert all(np.isfinite(h[key]) for h in fitted.history_)
    assert fitted.device_ == "cpu"
    # The tanh output bounds every decoded residual about the conditional mean,
    # in units of the conditional scale, by the scaled range of the training ones
    # (dimensionless).
    out = fitted.sample(Z, random_state=0)
    mean, scale = _location_scale(fitted, Z)
    standardized = (out - mean) / scale
    assert np.all(np.abs(standardized - fitted.x_center_) <= fitted.x_halfrange_ + 1e-4)
    for history in (fitted.mean_history_, fitted.scale_history_):
        assert len(history) >= 1
        assert all(np.isfinite(h["val_loss"]) for h in history)


def _location_scale(decoder, Z):
    """The decoder's conditional mean and scale at Z, from its networks."""
    psi = torch.as_tensor(decoder.z_scaler_.transform(Z), dtype=torch.float32)
    with torch.no_grad():
        m = decoder.mean_network_(psi).numpy().astype(np.float64)
        mean = decoder.mean_scaler_.inverse_transform(m)
        if decoder.scale_network_ is None:
            return mean, np.ones_like(mean)
        log_s = decoder.scale_network_(psi).numpy().astype(np.float64)
        return mean, np.exp(log_s) * decoder.mean_scaler_.scale


@pytest.mark.parametrize(
    "params",
    [{}, {"conditional_scale": False}, {"mean_layer_sizes": None}],
    ids=["mean-and-scale", "mean", "gan-only"],
)
def test_sample_is_the_documented_composition(data, params):
    # sample = m(ψ) + s(ψ) * (x_center_ + x_halfrange_ * G(ψ, ε)), recomputed here
    # in float64 from the networks with the same noise; y far from the origin.
    Z, X = data
    decoder = _small(random_state=0, **params).fit(Z, X + 1e3)
    out = decoder.sample(Z, random_state=7)
    psi = torch.as_tensor(decoder.z_scaler_.transform(Z), dtype=torch.float32)
    noise = torch.empty(len(Z), decoder.noise_dim)
    noise.normal_(generator=torch_generator(seed_from_random_state(7)))
    with torch.no_grad():
        G = decoder.generator_(torch.cat([psi, noise], 1)).numpy().astype(np.float64)
    expected = decoder.x_center_ + decoder.x_halfrange_ * G
    if decoder.mean_network_ is not None:
        mean, scale = _location_scale(decoder, Z)
        expected = mean + scale * expected
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
    # float32 latents give float32 frames, scaled back on the device in float32:
    # within a few float32 roundings of the float64 composition.
    out32 = decoder.sample(Z.astype(np.float32), random_state=7)
    assert out32.dtype == np.float32
    ulp = np.spacing(np.abs(expected).astype(np.float32)).astype(np.float64)
    assert np.all(np.abs(out32 - expected) <= 4 * ulp + 1e-5)


def test_scale_network_matches_the_exact_spread():
    # The Gaussian coordinate's spread grows 3-fold across ψ; the scale network
    # alone (fitted before the GAN, which runs one epoch here) must follow it.
    rng = np.random.default_rng(1)
    Z, X = _toy(4000, rng)
    decoder = _small(random_state=0, max_epochs=1, mean_layer_sizes=(32, 32))
    decoder.fit(Z, X)
    grid = np.linspace(-0.9, 0.9, 7)[:, None]
    mean, scale = _location_scale(decoder, grid)
    np.testing.assert_allclose(mean[:, 0], _mean(grid[:, 0]), atol=0.05)
    np.testing.assert_allclose(scale[:, 0], _sd(grid[:, 0]), rtol=0.1)
    # Without it, the GAN learns the residuals about the mean themselves.
    plain = _small(random_state=0, conditional_scale=False).fit(Z, X)
    assert plain.scale_network_ is None and plain.scale_history_ == []
    mean, _ = _location_scale(plain, Z)
    np.testing.assert_allclose(plain.x_scale_, (X - mean).std(axis=0), rtol=1e-6)


def test_fit_is_reproducible_and_sample_seeded(data):
    Z, X = data
    a = _small(random_state=3).fit(Z, X)
    b = _small(random_state=3).fit(Z, X)
    np.testing.assert_array_equal(
        a.sample(Z, random_state=5), b.sample(Z, random_state=5)
    )
    assert [h["loss"] for h in a.history_] == [h["loss"] for h in b.history_]
    assert not np.allclose(a.sample(Z, random_state=5), a.sample(Z, random_state=6))
    # random_state=None draws fresh noise every call.
    assert not np.allclose(a.sample(Z), a.sample(Z))


def test_list_in_list_out_and_dtype(fitted, data):
    Z, X = data
    parts = [Z[:100], Z[100:]]
    out = fitted.sample(parts, random_state=0)
    assert isinstance(out, list) and [len(o) for o in out] == [100, 200]
    # A list is decoded as its concatenation: same noise, same frames.
    np.testing.assert_array_equal(np.vstack(out), fitted.sample(Z, random_state=0))
    assert fitted.sample(Z.astype(np.float32)).dtype == np.float32
    assert fitted.sample(Z).dtype == np.float64
    assert fitted.sample(Z.astype(int)).dtype == np.float64


def test_fit_on_lists(data):
    Z, X = data
    dec = _small(random_state=0).fit([Z[:120], Z[120:]], [X[:120], X[120:]])
    assert dec.sample(Z[:5]).shape == (5, 2)


def test_sample_is_chunked_consistently(fitted, data, monkeypatch):
    # With the noise inputs of the generator switched off, decoding is a function of
    # the latent frame alone: cutting the frames into chunks of 7 must give the same
    # configurations as one chunk (same scaling of every frame at chunk borders).
    import copy

    import torch

    import sklss._cwgan as module

    Z, _ = data
    deterministic = copy.deepcopy(fitted)
    with torch.no_grad():
        deterministic.generator_[0].weight[:, deterministic.n_features_in_ :] = 0
    whole = deterministic.sample(Z, random_state=0)
    monkeypatch.setattr(module, "_SAMPLE_CHUNK", 7)
    chunked = deterministic.sample(Z, random_state=1)
    assert len(Z) > 7 * 3
    np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-5)
    # The fitted decoder itself still draws different configurations per seed.
    assert not np.allclose(fitted.sample(Z, random_state=0), whole)


def test_pickle_round_trip(fitted, data):
    Z, _ = data
    clone = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        clone.sample(Z, random_state=1), fitted.sample(Z, random_state=1)
    )


def test_inputs_not_modified(data):
    Z, X = data
    Zc, Xc = Z.copy(), X.copy()
    dec = _small(random_state=0).fit(Z, X)
    dec.sample(Z)
    np.testing.assert_array_equal(Z, Zc)
    np.testing.assert_array_equal(X, Xc)


def test_verbose_progress_bar(data, capsys):
    Z, X = data
    _small(random_state=0, max_epochs=2, verbose=True).fit(Z, X)
    err = capsys.readouterr().err
    assert "CWGANDecoder" in err and "2/2" in err


def test_two_sided_penalty_runs(data):
    dec = _small(random_state=0, penalty="two-sided").fit(*data)
    assert np.isfinite(dec.history_[-1]["gradient_penalty"])


def test_averaged_generator_and_constant_schedule(data):
    Z, X = data
    plain = _small(random_state=0, ema_decay=0.0).fit(Z, X)
    averaged = _small(random_state=0, ema_decay=0.999).fit(Z, X)
    # The same training (the average does not feed back into it): identical
    # losses, but the averaged generator is a separate module, not trained by
    # autograd, that decodes differently from the last iterate.
    assert [h["loss"] for h in plain.history_] == [h["loss"] for h in averaged.history_]
    assert not any(p.requires_grad for p in averaged.generator_.parameters())
    assert not np.allclose(
        averaged.sample(Z, random_state=0), plain.sample(Z, random_state=0)
    )
    # The critic's scale: the standard deviation of what the GAN learns, the
    # standardised residuals about the conditional mean (y itself without a mean
    # network, where the scale network has no effect).
    mean, scale = _location_scale(averaged, Z)
    np.testing.assert_allclose(
        averaged.x_scale_, ((X - mean) / scale).std(axis=0), rtol=1e-5
    )
    gan_only = _small(random_state=0, mean_layer_sizes=None).fit(Z, X)
    np.testing.assert_array_equal(gan_only.x_scale_, X.std(axis=0))
    assert gan_only.scale_network_ is None
    constant = _small(random_state=0, learning_rate="constant").fit(Z, X)
    assert np.all(np.isfinite(constant.sample(Z, random_state=0)))


# --- errors ----------------------------------------------------------------------


def test_error_frame_counts_differ(data):
    Z, X = data
    with pytest.raises(ValueError, match="Z and y must have the same number of frames"):
        _small().fit(Z, X[:-1])
    with pytest.raises(ValueError, match=r"trajectory 1.*50 frames in Z and 60"):
        _small().fit([Z[:10], Z[10:60]], [X[:10], X[10:70]])


def test_error_list_lengths_differ(data):
    Z, X = data
    with pytest.raises(ValueError, match="2 trajectories in Z and 1 in y"):
        _small().fit([Z[:10], Z[10:20]], [X[:20]])


def test_error_nan_and_inf(data):
    Z, X = data
    Zn = Z.copy()
    Zn[3, 0] = np.nan
    with pytest.raises(ValueError, match="Input Z contains NaN"):
        _small().fit(Zn, X)
    Xi = X.copy()
    Xi[0, 1] = np.inf
    with pytest.raises(ValueError, match="Input y contains infinity"):
        _small().fit(Z, Xi)


def test_error_dimensionality(data, fitted):
    Z, X = data
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array.*Z"):
        _small().fit(Z[:, 0], X)
    with pytest.raises(ValueError, match="y must be a 2-D array"):
        _small().fit(Z, X[:, :, None])
    with pytest.raises(ValueError, match=re.escape("Z has 2 features, but")):
        fitted.sample(np.hstack([Z, Z]))


def test_error_missing_target(data):
    with pytest.raises(ValueError, match="target configurations are required"):
        _small().fit(data[0], None)


def test_error_not_fitted(data):
    with pytest.raises(NotFittedError):
        _small().sample(data[0])


def test_error_bad_parameters(data):
    with pytest.raises(ValueError, match="'noise_dim' parameter"):
        _small(noise_dim=0).fit(*data)
    with pytest.raises(ValueError, match="'penalty' parameter"):
        _small(penalty="both").fit(*data)
    with pytest.raises(ValueError, match="'ema_decay' parameter"):
        _small(ema_decay=1.0).fit(*data)
    with pytest.raises(ValueError, match="'learning_rate_schedule' parameter"):
        _small(learning_rate_schedule="cosine").fit(*data)
    with pytest.raises(ValueError, match="'learning_rate' parameter"):
        _small(learning_rate="cosine").fit(*data)
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
        _small(device="tpu").fit(*data)
