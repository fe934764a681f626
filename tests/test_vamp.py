"""The reversible VAMP functions against independent numpy/scipy computations."""

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch

from sklss._vamp import (
    reversible_covariances,
    reversible_eig,
    reversible_vamp2_loss,
    reversible_vamp2_score,
)


def _reference_score(Z0, Z1):
    """Reversible VAMP-2 written out independently: explicit sums and scipy eigvalsh."""
    n = len(Z0)
    both = np.concatenate([Z0, Z1])
    mu = both.mean(axis=0)
    a, b = Z0 - mu, Z1 - mu
    c00 = np.einsum("ti,tj->ij", a, a) / n
    c11 = np.einsum("ti,tj->ij", b, b) / n
    c01 = np.einsum("ti,tj->ij", a, b) / n
    C0 = 0.5 * (c00 + c11)
    C1 = 0.5 * (c01 + c01.T)
    lam = scipy.linalg.eigvalsh(C1, C0)
    return 1.0 + np.sum(lam**2), np.sort(lam)[::-1]


def test_score_and_loss_match_independent_reference(ar1):
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(3, 3))
    X = ar1(5000, [0.9, 0.6, 0.1], rng, mix=mix) + 3.0
    Z0, Z1 = X[:-2], X[2:]
    expected, lam = _reference_score(Z0, Z1)
    assert reversible_vamp2_score(Z0, Z1, epsilon=0) == pytest.approx(expected, 1e-10)
    loss = reversible_vamp2_loss(torch.from_numpy(Z0), torch.from_numpy(Z1), 0.0)
    assert loss.dtype == torch.float64
    assert -loss.item() == pytest.approx(expected, rel=1e-10)
    # float32 network outputs are promoted to float64 inside the loss.
    loss32 = reversible_vamp2_loss(
        torch.from_numpy(Z0).float(), torch.from_numpy(Z1).float(), 0.0
    )
    assert -loss32.item() == pytest.approx(expected, rel=1e-5)
    eigenvalues, _ = reversible_eig(*reversible_covariances(Z0, Z1)[1:], epsilon=0)
    np.testing.assert_allclose(eigenvalues, lam, rtol=1e-10)


def test_score_of_ar1_process_is_analytical(ar1):
    # For independent AR(1) coordinates with coefficients a_i, the lag-tau
    # eigenvalues are a_i**tau, so the score is 1 + sum a_i**(2 tau).
    rng = np.random.default_rng(1)
    a = np.array([0.95, 0.7])
    X = ar1(200_000, a, rng)
    tau = 3
    score = reversible_vamp2_score(X[:-tau], X[tau:])
    assert score == pytest.approx(1 + np.sum(a ** (2 * tau)), abs=0.01)


def test_score_is_invariant_to_linear_reparametrisation(ar1):
    rng = np.random.default_rng(2)
    X = ar1(3000, [0.9, 0.5], rng)
    A = np.array([[2.0, 1.0], [-0.5, 3.0]])
    s1 = reversible_vamp2_score(X[:-1], X[1:], epsilon=0)
    s2 = reversible_vamp2_score(X[:-1] @ A + 7, X[1:] @ A + 7, epsilon=0)
    assert s1 == pytest.approx(s2, rel=1e-10)


def test_epsilon_regularises_rank_deficient_basis(ar1):
    rng = np.random.default_rng(3)
    x = ar1(2000, [0.8], rng)
    Z = np.hstack([x, 2 * x])  # two identical directions: C0 is singular
    score = reversible_vamp2_score(Z[:-1], Z[1:], epsilon=1e-6)
    assert np.isfinite(score)
    assert score == pytest.approx(1 + 0.8**2, abs=0.05)
    loss = reversible_vamp2_loss(torch.from_numpy(Z[:-1]), torch.from_numpy(Z[1:]))
    assert np.isfinite(loss.item())


def test_reversible_eig_normalisation_and_order(ar1):
    rng = np.random.default_rng(4)
    X = ar1(4000, [0.3, 0.9, 0.6], rng, mix=rng.normal(size=(3, 3)))
    _, C0, C1 = reversible_covariances(X[:-1], X[1:])
    lam, V = reversible_eig(C0, C1, epsilon=0)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(V.T @ C0 @ V, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(V.T @ C1 @ V, np.diag(lam), atol=1e-10)


def test_covariances_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        reversible_covariances(np.zeros((5, 2)), np.zeros((4, 2)))
