"""Reversible VAMP scores and the final variational eigenproblem of the SRV.

Plain functions, one for numpy (scores, the final eigenproblem) and one for torch (the
training loss), written from the same formulas:

- the data ``Z0 = f(x_t)`` and ``Z1 = f(x_{t+lagtime})`` are made mean-free with the
  mean over *both* halves (the equilibrium mean of a reversible process);
- the symmetrised covariances are ``C0 = (C00 + C11) / 2`` and
  ``C1 = (C01 + C10) / 2`` with the ``1 / n_pairs`` normalisation (the normalisation
  cancels in every quantity computed here);
- the reversible VAMP-2 score is ``1 + ||C0^{-1/2} C1 C0^{-1/2}||_F^2 =
  1 + sum_i lambda_i^2``, with ``lambda_i`` the generalized eigenvalues of
  ``C1 v = lambda C0 v``.

**The constant function's +1 is included** in every score and loss here, as in
deeptime's ``vamp_score`` and ``CovarianceKoopmanModel.score``: the mean-free basis
spans the non-constant functions, and the constant eigenfunction (eigenvalue 1) is
added back. A model with ``m`` outputs therefore scores in ``[1, 1 + m]``.

``C0^{-1/2}`` is regularised by ``epsilon`` (absolute, in units of the basis
functions' variance). The numpy functions (score, final eigenproblem) clamp the
eigenvalues of ``C0`` at ``epsilon``: exact for a well-conditioned basis, finite for a
collapsed one. The torch loss whitens with the inverse Cholesky factor of
``C0 + epsilon I`` (smooth, stable gradients, no eigenvector derivatives); any
whitening gives the same Frobenius norm, so both agree up to ``O(epsilon / s_min)``
with ``s_min`` the smallest eigenvalue of ``C0``.
"""

import math

import numpy as np
import scipy.linalg
import torch

__all__ = [
    "ReversibleMoments",
    "reversible_covariances",
    "reversible_eig",
    "reversible_vamp2_score",
    "reversible_vamp2_loss",
]


def reversible_covariances(Z0, Z1):
    """Mean and symmetrised covariances of time-lagged pairs, in float64.

    Parameters
    ----------
    Z0, Z1 : ndarray or torch.Tensor of shape (n_pairs, n_components)
        Basis functions evaluated at ``x_t`` and at ``x_{t+lagtime}``. Tensors stay
        tensors (differentiable, on their device), in float64.

    Returns
    -------
    mean : ndarray of shape (n_components,)
        Mean over both halves.
    C0 : ndarray of shape (n_components, n_components)
        ``(C00 + C11) / 2`` of the mean-free data.
    C1 : ndarray of shape (n_components, n_components)
        ``(C01 + C10) / 2`` of the mean-free data.
    """
    if isinstance(Z0, torch.Tensor):
        Z0, Z1 = Z0.to(torch.float64), Z1.to(torch.float64)
    else:
        Z0 = np.asarray(Z0, dtype=np.float64)
        Z1 = np.asarray(Z1, dtype=np.float64)
    if Z0.shape != Z1.shape or Z0.ndim != 2:
        raise ValueError(
            "Z0 and Z1 must be 2-D arrays of the same shape (n_pairs, n_components); "
            f"got {Z0.shape} and {Z1.shape}."
        )
    n = Z0.shape[0]
    mean = (Z0.sum(axis=0) + Z1.sum(axis=0)) / (2 * n)
    Z0 = Z0 - mean
    Z1 = Z1 - mean
    C0 = (Z0.T @ Z0 + Z1.T @ Z1) / (2 * n)
    C01 = Z0.T @ Z1 / n
    C1 = (C01 + C01.T) / 2
    return mean, C0, C1


class ReversibleMoments:
    """The quantities of :func:`reversible_covariances`, accumulated over blocks
    of pairs (for data streamed from disk).

    Sums of the values and of their products are kept in float64 and centred at
    the end; the values are basis functions of order one, for which the
    cancellation is harmless.
    """

    def __init__(self):
        self.n = 0
        self.s0 = self.s1 = self.S00 = self.S11 = self.S01 = 0.0

    def update(self, Z0, Z1):
        """Add the pairs of one block (arrays of shape (n_pairs, n_components))."""
        Z0 = np.asarray(Z0, dtype=np.float64)
        Z1 = np.asarray(Z1, dtype=np.float64)
        self.n += len(Z0)
        self.s0 = self.s0 + Z0.sum(axis=0)
        self.s1 = self.s1 + Z1.sum(axis=0)
        self.S00 = self.S00 + Z0.T @ Z0
        self.S11 = self.S11 + Z1.T @ Z1
        self.S01 = self.S01 + Z0.T @ Z1

    def covariances(self):
        """``(mean, C0, C1)`` as :func:`reversible_covariances` returns them."""
        n = self.n
        mean = (self.s0 + self.s1) / (2 * n)
        mm = np.outer(mean, mean)
        C00 = self.S00 / n - np.outer(self.s0 / n, mean) - np.outer(mean, self.s0 / n)
        C11 = self.S11 / n - np.outer(self.s1 / n, mean) - np.outer(mean, self.s1 / n)
        C0 = (C00 + C11) / 2 + mm
        C01 = self.S01 / n - np.outer(self.s0 / n, mean) - np.outer(mean, self.s1 / n)
        C01 = C01 + mm
        return mean, C0, (C01 + C01.T) / 2


def reversible_eig(C0, C1, epsilon=1e-6):
    """Solve ``C1 v = lambda C0 v`` with ``C0``'s eigenvalues clamped at ``epsilon``.

    ``C0`` is whitened with ``C0^{-1/2} = U diag(max(s, epsilon))^{-1/2} U^T`` from its
    eigendecomposition ``C0 = U diag(s) U^T``. When ``C0`` is well conditioned (all
    ``s > epsilon``) the result is exact, so the eigenfunctions are exactly
    orthonormal; directions with variance below ``epsilon`` (a collapsed basis) are
    kept finite instead of blowing up.

    Parameters
    ----------
    C0, C1 : ndarray of shape (n, n)
        Symmetrised instantaneous and time-lagged covariances.
    epsilon : float, default=1e-6
        Lower bound on the eigenvalues of ``C0``.

    Returns
    -------
    eigenvalues : ndarray of shape (n,)
        Descending.
    eigenvectors : ndarray of shape (n, n)
        Columns ``v_i`` with ``v_i^T C0 v_j = delta_ij`` (when no eigenvalue of
        ``C0`` was clamped); the sign makes each column's entry of largest magnitude
        positive, so that repeated fits give identical outputs.
    """
    C0 = np.asarray(C0, dtype=np.float64)
    C1 = np.asarray(C1, dtype=np.float64)
    s, U = scipy.linalg.eigh((C0 + C0.T) / 2)
    W = U / np.sqrt(np.maximum(s, epsilon))
    M = W.T @ ((C1 + C1.T) / 2) @ W
    eigenvalues, Q = scipy.linalg.eigh((M + M.T) / 2)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, V = eigenvalues[order], W @ Q[:, order]
    pivots = np.argmax(np.abs(V), axis=0)
    V = V * np.sign(V[pivots, np.arange(V.shape[1])])
    return eigenvalues, V


def reversible_vamp2_score(Z0, Z1, epsilon=1e-6):
    """Reversible VAMP-2 score of time-lagged pairs of basis-function values.

    ``1 + sum_i lambda_i^2`` where ``lambda_i`` solve ``C1 v = lambda C0 v`` (see
    :func:`reversible_eig` for the ``epsilon`` clamp) for the symmetrised
    covariances of the mean-free data (see the module docstring).
    It is the squared Frobenius norm of the reversible Koopman matrix on the span of
    the basis plus the constant function; it does not change when the basis is
    replaced by any invertible linear combination of itself (up to ``epsilon``).

    Parameters
    ----------
    Z0, Z1 : ndarray of shape (n_pairs, n_components)
        Basis functions at ``x_t`` and at ``x_{t+lagtime}``.
    epsilon : float, default=1e-6
        Lower bound on the eigenvalues of ``C0``.

    Returns
    -------
    float
        The score, between 1 and ``1 + n_components``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss._vamp import reversible_vamp2_score
    >>> Z = np.random.default_rng(0).normal(size=(1000, 2))
    >>> 1.0 <= reversible_vamp2_score(Z[:-1], Z[1:]) <= 3.0
    True
    """
    _, C0, C1 = reversible_covariances(Z0, Z1)
    eigenvalues, _ = reversible_eig(C0, C1, epsilon=epsilon)
    return float(1.0 + np.sum(eigenvalues**2))


def reversible_vamp2_loss(Z0, Z1, epsilon=1e-6):
    """Negative reversible VAMP-2 score of torch tensors (the SRV training loss).

    The same quantity as :func:`reversible_vamp2_score`, differentiable, computed in
    float64 whatever the dtype of the network outputs.

    Parameters
    ----------
    Z0, Z1 : torch.Tensor of shape (n_pairs, n_components)
    epsilon : float, default=1e-6

    Returns
    -------
    torch.Tensor
        Scalar ``-(1 + ||L^{-1} C1 L^{-T}||_F^2)`` with ``L L^T = C0 + epsilon I``;
        NaN when ``C0 + epsilon I`` is not positive definite (non-finite or
        degenerate outputs), which the training loop counts as divergence.
    """
    _, C0, C1 = reversible_covariances(Z0, Z1)
    eye = torch.eye(C0.shape[0], dtype=C0.dtype, device=C0.device)
    L, info = torch.linalg.cholesky_ex(C0 + epsilon * eye)
    if info.item() != 0:
        return torch.full((), math.nan, dtype=C0.dtype, device=C0.device)
    # K = L^{-1} C1 L^{-T}: similar to C0^{-1} C1, so its Frobenius norm is the sum of
    # squared generalized eigenvalues.
    A = torch.linalg.solve_triangular(L, C1, upper=False)
    K = torch.linalg.solve_triangular(L, A.T, upper=False)
    return -(1.0 + (K**2).sum())
