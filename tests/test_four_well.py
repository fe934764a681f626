"""The four-well system (paper §3.1): dataset helpers and the MDN validation."""

import numpy as np
import pytest
from deeptime.markov import TransitionCountEstimator
from deeptime.markov.msm import MaximumLikelihoodMSM
from scipy import integrate

from sklss import MDNPropagator
from sklss.datasets import (
    compare_four_well,
    four_well_bin_probabilities,
    four_well_boltzmann_density,
    four_well_potential,
    four_well_transition_density,
    four_well_transition_matrix,
    make_four_well,
)


def boltzmann_bin_probabilities(edges):
    """Exact bin probabilities by adaptive quadrature of exp(-V), end bins extended
    to +-2 (the density beyond is below 1e-100); independent of sklss."""
    Z = integrate.quad(lambda x: np.exp(-four_well_potential(x)), -2, 2, limit=200)[0]
    limits = np.array(edges, dtype=float)
    limits[0], limits[-1] = -2.0, 2.0
    return np.array(
        [
            integrate.quad(lambda x: np.exp(-four_well_potential(x)), a, b)[0] / Z
            for a, b in zip(limits[:-1], limits[1:], strict=True)
        ]
    )


def reference_msm_timescales(trajs, edges, k):
    """deeptime MSM implied time scales at lag 1 frame (the test's own copy)."""
    dtrajs = [
        np.clip(np.digitize(t[:, 0], edges) - 1, 0, len(edges) - 2) for t in trajs
    ]
    counts = TransitionCountEstimator(1, "sliding").fit(dtrajs).fetch_model()
    msm = MaximumLikelihoodMSM(reversible=True).fit(counts.submodel_largest())
    return msm.fetch_model().timescales(k)


# --- the dataset ------------------------------------------------------------------


def test_potential_values():
    x = np.array([-0.5, 0.0, 0.5, 1.0])
    expected = 2 * (
        x**8
        + 0.8 * np.exp(-80 * x**2)
        + 0.2 * np.exp(-80 * (x - 0.5) ** 2)
        + 0.5 * np.exp(-40 * (x + 0.5) ** 2)
    )
    np.testing.assert_allclose(four_well_potential(x), expected)
    assert four_well_boltzmann_density(np.linspace(-1, 1, 7)).shape == (7,)
    val = integrate.quad(four_well_boltzmann_density, -2, 2, limit=200)[0]
    assert val == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "edges", [np.linspace(-1, 1, 61), np.linspace(-1.2, 1.2, 7), [-0.3, 0.0, 0.7]]
)
def test_bin_probabilities_match_quadrature(edges):
    p = four_well_bin_probabilities(edges)
    np.testing.assert_allclose(p, boltzmann_bin_probabilities(edges), atol=1e-7)
    assert p.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="edges"):
        four_well_bin_probabilities([0.5, 0.1])


def test_analytical_transition_matrix():
    centers, P = four_well_transition_matrix(100)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert (
        np.count_nonzero(np.triu(P, 2)) == 0 and np.count_nonzero(np.tril(P, -2)) == 0
    )
    V = four_well_potential(centers)
    i = 40
    ratio = P[i, i + 1] / P[i, i - 1]
    assert ratio == pytest.approx(np.exp(-(V[i + 1] - V[i - 1])))


def test_make_four_well_shape_reproducibility_and_bad_input():
    X = make_four_well(1000, stride=10, random_state=0)
    assert X.shape == (101, 1) and X.dtype == np.float64
    np.testing.assert_array_equal(X, make_four_well(1000, stride=10, random_state=0))
    full = make_four_well(1000, random_state=0)
    np.testing.assert_array_equal(full[::10], X)
    assert make_four_well(10, x0=0.3, random_state=0)[0, 0] == 0.3
    with pytest.raises(ValueError, match="n_steps must be an int >= 1; got -5"):
        make_four_well(-5)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        make_four_well(10, stride=0)
    with pytest.raises(ValueError, match="x0 must be a finite float"):
        make_four_well(10, x0=np.nan)


def test_brownian_dynamics_samples_the_boltzmann_density():
    X = make_four_well(2_000_000, stride=10, random_state=1)
    edges = np.linspace(-1, 1, 61)
    counts, _ = np.histogram(np.clip(X[:, 0], -1, 1), edges)
    exact = boltzmann_bin_probabilities(edges)
    assert 0.5 * np.abs(counts / counts.sum() - exact).sum() < 0.04


def test_smoluchowski_reference_matches_boltzmann_and_the_brownian_dynamics():
    edges = np.linspace(-1.3, 1.3, 261)
    width = edges[1] - edges[0]
    centers, density = four_well_transition_density(edges, lag=0.1)
    P = density * width
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    # Its stationary distribution is the Boltzmann distribution.
    w, v = np.linalg.eig(P.T)
    pi = np.abs(v[:, np.argmax(w.real)].real)
    pi /= pi.sum()
    assert 0.5 * np.abs(pi - boltzmann_bin_probabilities(edges)).sum() < 1e-3
    with pytest.raises(ValueError, match="equally spaced"):
        four_well_transition_density([-1.0, 0.0, 0.5], lag=0.1)
    with pytest.raises(ValueError, match="lag"):
        four_well_transition_density(edges, lag=0.0)
    # Its slowest time scales are those of an MSM of the Brownian dynamics at the
    # same lag (100 steps of 1e-3), up to the MSM's statistical error.
    bd = make_four_well(2_000_000, stride=100, random_state=7)
    msm = reference_msm_timescales([bd], np.linspace(-1.3, 1.3, 101), 2)
    lam = np.sort(np.linalg.eigvals(P).real)[::-1][1:3]
    exact = -1.0 / np.log(lam)  # in lags of 100 steps
    np.testing.assert_allclose(msm, exact, rtol=0.1)


def test_compare_four_well_against_independent_computations():
    bd = make_four_well(500_000, stride=100, random_state=3)
    stack = np.stack(
        [make_four_well(100_000, stride=100, random_state=s) for s in (4, 5)]
    )
    edges = np.linspace(-1, 1, 41)
    msm_edges = np.linspace(-1.3, 1.3, 101)
    result = compare_four_well(bd, stack, edges=edges, n_timescales=2)

    exact = boltzmann_bin_probabilities(edges)
    np.testing.assert_allclose(result.exact, exact, atol=1e-7)
    gen = stack[..., 0].ravel()
    q, _ = np.histogram(np.clip(gen, -1, 1), edges)
    q = q / q.sum()
    np.testing.assert_allclose(result.generated_probabilities, q)
    assert result.tv_generated_vs_exact == pytest.approx(0.5 * np.abs(q - exact).sum())
    p, _ = np.histogram(np.clip(bd[:, 0], -1, 1), edges)
    p = p / p.sum()
    assert result.tv_reference_vs_exact == pytest.approx(0.5 * np.abs(p - exact).sum())
    assert result.tv_generated_vs_reference == pytest.approx(0.5 * np.abs(p - q).sum())
    np.testing.assert_allclose(
        result.timescales_reference, reference_msm_timescales([bd], msm_edges, 2)
    )
    # A stack is several trajectories: no transition is counted between them.
    np.testing.assert_allclose(
        result.timescales_generated, reference_msm_timescales(stack, msm_edges, 2)
    )
    with pytest.raises(ValueError, match="reference must be a trajectory"):
        compare_four_well(np.zeros((10, 2)), bd)


# --- the MDN validation (paper §3.1, Fig. 2) --------------------------------------


def _validate(n_steps, max_epochs, seed):
    """Fit the MDN directly on x at lag 100 steps and generate 4x as long a run."""
    X = make_four_well(n_steps, stride=100, random_state=seed)  # frames = lag
    mdn = MDNPropagator(
        lagtime=1,
        n_kernels=8,
        hidden_layer_sizes=(100, 100),
        batch_size=256,
        n_iter_no_change=20,
        max_epochs=max_epochs,
        random_state=seed,
    ).fit(X)
    generated = mdn.sample(X[0], 4 * len(X), random_state=seed)
    assert len(generated) >= len(X)
    return compare_four_well(X, generated, edges=np.linspace(-1, 1, 61), n_timescales=2)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_four_well_validation():
    """Paper §3.1: 5e6 BD steps, MDN (8 kernels, 2x100 ReLU) at lag 100 steps."""
    result = _validate(5_000_000, max_epochs=200, seed=0)
    assert result.tv_generated_vs_exact < 0.05
    np.testing.assert_allclose(
        result.timescales_generated, result.timescales_reference, rtol=0.2
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_four_well_validation_small():
    """A 2.5x smaller, faster run of the same validation. The thresholds are wider
    because the data are: the BD trajectory alone has a TV of ~0.03 from the
    Boltzmann density at this length, and ~500 slowest relaxation times."""
    result = _validate(2_000_000, max_epochs=40, seed=2)
    assert result.tv_generated_vs_exact < 0.08
    np.testing.assert_allclose(
        result.timescales_generated, result.timescales_reference, rtol=0.3
    )
