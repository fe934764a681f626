"""The four-well system (paper §3.1): dataset helpers and the MDN validation."""

import warnings

import numpy as np
import pytest
from deeptime.markov import TransitionCountEstimator
from deeptime.markov.msm import MaximumLikelihoodMSM
from scipy import integrate
from sklearn.exceptions import ConvergenceWarning

from sklss import MDNPropagator
from sklss.datasets import four_well_potential, make_four_well
from sklss.datasets._four_well import (
    four_well_boltzmann_density,
    four_well_transition_matrix,
)


def boltzmann_bin_probabilities(edges):
    """Exact probability of each bin by quadrature of exp(-V) (independent of sklss)."""
    Z = integrate.quad(lambda x: np.exp(-four_well_potential(x)), -2, 2, limit=200)[0]
    return np.array(
        [
            integrate.quad(lambda x: np.exp(-four_well_potential(x)), a, b)[0] / Z
            for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    )


def total_variation(x, edges, reference):
    counts, _ = np.histogram(np.clip(x, edges[0], edges[-1]), edges)
    return 0.5 * np.abs(counts / counts.sum() - reference).sum()


def msm_timescales(trajs, edges, k=2):
    """Implied time scales (in frames) of a reversible MSM at lag 1 frame (deeptime)."""
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
    with pytest.raises(ValueError, match="n_steps must be a positive int; got -5"):
        make_four_well(-5)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        make_four_well(10, stride=0)
    with pytest.raises(ValueError, match="x0 must be a finite float"):
        make_four_well(10, x0=np.nan)


def test_brownian_dynamics_samples_the_boltzmann_density():
    X = make_four_well(2_000_000, stride=10, random_state=1)
    edges = np.linspace(-1, 1, 61)
    assert total_variation(X[:, 0], edges, boltzmann_bin_probabilities(edges)) < 0.04


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
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mdn.fit(X)
    generated = mdn.sample(X[0], 4 * len(X), random_state=seed)
    assert len(generated) >= len(X)
    edges = np.linspace(-1, 1, 61)
    tv = total_variation(generated[:, 0], edges, boltzmann_bin_probabilities(edges))
    fine = np.linspace(-1.3, 1.3, 101)
    return tv, msm_timescales([X], fine), msm_timescales([generated], fine)


@pytest.mark.slow
def test_four_well_validation():
    """Paper §3.1: 5e6 BD steps, MDN (8 kernels, 2x100 ReLU) at lag 100 steps."""
    tv, ts_md, ts_gen = _validate(5_000_000, max_epochs=200, seed=0)
    print(f"TV={tv:.4f} timescales MD={ts_md} generated={ts_gen} (frames of 100 steps)")
    assert tv < 0.05
    np.testing.assert_allclose(ts_gen, ts_md, rtol=0.2)


def test_four_well_validation_small():
    """A 2.5x smaller, faster run of the same validation. The thresholds are wider
    because the data are: the BD trajectory alone has a TV of ~0.03 from the
    Boltzmann density at this length, and ~500 slowest relaxation times."""
    tv, ts_md, ts_gen = _validate(2_000_000, max_epochs=40, seed=2)
    assert tv < 0.08
    np.testing.assert_allclose(ts_gen, ts_md, rtol=0.3)
