"""The 1-D four-well potential of the latent space simulator paper (section 3.1).

Brownian dynamics in ``V(x) = 2(x^8 + 0.8 e^{-80 x^2} + 0.2 e^{-80 (x-0.5)^2}
+ 0.5 e^{-40 (x+0.5)^2})`` with its exact stationary (Boltzmann) density and the
paper's analytical bin-to-bin transition probabilities.
"""

import math
import numbers

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "four_well_boltzmann_density",
    "four_well_potential",
    "four_well_transition_matrix",
    "make_four_well",
]

# The four well minima lie inside [-1, 1]; the x^8 wall makes the density there
# negligible (V(1.05) > 3 kT above every minimum), so this is the support we use.
_X_RANGE = (-1.0, 1.0)


def four_well_potential(x):
    """The four-well potential ``V(x)`` in units of kT.

    ``V(x) = 2 (x^8 + 0.8 e^{-80 x^2} + 0.2 e^{-80 (x-0.5)^2} + 0.5 e^{-40 (x+0.5)^2})``

    Parameters
    ----------
    x : array-like
        Positions (dimensionless).

    Returns
    -------
    ndarray
        ``V(x)`` with the shape of ``x``.

    Examples
    --------
    >>> from sklss.datasets import four_well_potential
    >>> four_well_potential([-0.5, 0.0, 0.5]).shape
    (3,)
    """
    x = np.asarray(x, dtype=float)
    return 2.0 * (
        x**8
        + 0.8 * np.exp(-80.0 * x**2)
        + 0.2 * np.exp(-80.0 * (x - 0.5) ** 2)
        + 0.5 * np.exp(-40.0 * (x + 0.5) ** 2)
    )


def _force(x):
    """``-V'(x)`` for a Python float (the integrator's inner loop)."""
    e0 = math.exp(-80.0 * x * x)
    e1 = math.exp(-80.0 * (x - 0.5) * (x - 0.5))
    e2 = math.exp(-40.0 * (x + 0.5) * (x + 0.5))
    x7 = x**7
    return -2.0 * (
        8.0 * x7 - 128.0 * x * e0 - 32.0 * (x - 0.5) * e1 - 40.0 * (x + 0.5) * e2
    )


def four_well_boltzmann_density(x, kT=1.0):
    """The exact stationary density ``exp(-V(x)/kT) / Z`` of the four-well system.

    The partition function ``Z`` is computed by quadrature on ``[-1.5, 1.5]`` (the
    density outside is below 1e-30).

    Parameters
    ----------
    x : array-like
        Positions.
    kT : float, default=1.0
        Thermal energy in the units of ``V``.

    Returns
    -------
    ndarray
        The normalised density at ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.datasets._four_well import four_well_boltzmann_density
    >>> four_well_boltzmann_density(np.linspace(-1, 1, 5)).shape
    (5,)
    """
    grid = np.linspace(-1.5, 1.5, 30001)
    weights = np.exp(-four_well_potential(grid) / kT)
    Z = np.trapezoid(weights, grid)
    return np.exp(-four_well_potential(x) / kT) / Z


def four_well_transition_matrix(n_bins=100, x_range=_X_RANGE, kT=1.0):
    """The paper's analytical bin-to-bin transition probabilities.

    The domain is cut into ``n_bins`` equal bins and
    ``p(j | i) = C_i exp(-(V_j - V_i)/kT)`` for ``|i - j| <= 1`` (zero otherwise),
    where ``V_i`` is the potential at the centre of bin ``i`` and ``C_i`` normalises
    row ``i`` (paper section 3.1, after Chen et al., J. Chem. Phys. 2019).

    Parameters
    ----------
    n_bins : int, default=100
    x_range : tuple of float, default=(-1.0, 1.0)
    kT : float, default=1.0

    Returns
    -------
    centers : ndarray of shape (n_bins,)
        Bin centres.
    P : ndarray of shape (n_bins, n_bins)
        Row-stochastic transition matrix, ``P[i, j] = p(j | i)``.

    Examples
    --------
    >>> from sklss.datasets._four_well import four_well_transition_matrix
    >>> centers, P = four_well_transition_matrix(100)
    >>> P.shape
    (100, 100)
    """
    edges = np.linspace(x_range[0], x_range[1], n_bins + 1)
    centers = 0.5 * (edges[:-1] + edges[1:])
    V = four_well_potential(centers) / kT
    P = np.zeros((n_bins, n_bins))
    for offset in (-1, 0, 1):
        i = np.arange(max(0, -offset), min(n_bins, n_bins - offset))
        P[i, i + offset] = np.exp(-(V[i + offset] - V[i]))
    P /= P.sum(axis=1, keepdims=True)
    return centers, P


def _check_positive(value, name, integral=False):
    if integral:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not value > 0:
        kind = "int" if integral else "float"
        raise ValueError(f"{name} must be a positive {kind}; got {value!r}.")
    return int(value) if integral else float(value)


def make_four_well(
    n_steps=1_000_000,
    *,
    stride=1,
    dt=1e-3,
    kT=1.0,
    x0=None,
    random_state=None,
):
    """Brownian dynamics trajectory in the four-well potential.

    Overdamped Langevin dynamics integrated with Euler-Maruyama,
    ``x_{n+1} = x_n - V'(x_n) dt + sqrt(2 kT dt) xi_n`` with ``xi_n ~ N(0, 1)``, in a
    dimensionless gauge with unit mobility (``D = kT``). With the defaults
    (``kT = 1``, ``dt = 1e-3``) this is exactly the update of MSMBuilder's
    Brownian-dynamics example systems that the paper cites for its
    "``D = kT = 1000``, ``dt = 0.001``" gauge (their noise term
    ``dt * sqrt(2 D)`` equals ``sqrt(2 kT dt)`` with ``kT = 1``), so the stationary
    density is ``exp(-V(x)) / Z`` and the paper's analytical transition densities
    ``exp(-(V_j - V_i))`` (in kT) apply. Barriers are 1-3.2 kT, so the four wells are
    metastable with slowest relaxation times of a few hundred to a few thousand steps.

    Parameters
    ----------
    n_steps : int, default=1_000_000
        Number of integration steps (the paper used 5e6).
    stride : int, default=1
        Keep every ``stride``-th frame. The returned frames are ``stride * dt``
        apart in time, so a lag of 100 steps is ``100 // stride`` frames.
    dt : float, default=1e-3
        Time step.
    kT : float, default=1.0
        Thermal energy (``V`` is given in the same units).
    x0 : float or None, default=None
        Starting position. ``None`` draws it from the Boltzmann density, so the
        trajectory is in equilibrium from its first frame.
    random_state : int, RandomState instance or None, default=None
        Seed of the noise.

    Returns
    -------
    X : ndarray of shape (n_steps // stride + 1, 1)
        The trajectory (float64), first frame ``x0``.

    Notes
    -----
    The integrator is a scalar loop over steps (a single trajectory is inherently
    sequential) drawing its Gaussian noise in vectorised chunks; about 1 s per 1e6
    steps.

    Examples
    --------
    >>> from sklss.datasets import make_four_well
    >>> X = make_four_well(10_000, stride=10, random_state=0)
    >>> X.shape
    (1001, 1)
    """
    n_steps = _check_positive(n_steps, "n_steps", integral=True)
    stride = _check_positive(stride, "stride", integral=True)
    dt = _check_positive(dt, "dt")
    kT = _check_positive(kT, "kT")
    rng = check_random_state(random_state)
    if x0 is None:
        grid = np.linspace(-1.2, 1.2, 24001)
        cdf = np.cumsum(np.exp(-four_well_potential(grid) / kT))
        x = float(np.interp(rng.uniform(0, cdf[-1]), cdf, grid))
    else:
        if not isinstance(x0, numbers.Real) or not np.isfinite(x0):
            raise ValueError(f"x0 must be a finite float or None; got {x0!r}.")
        x = float(x0)
    n_frames = n_steps // stride + 1
    out = np.empty(n_frames)
    out[0] = x
    noise_scale = math.sqrt(2.0 * kT * dt)
    chunk = 65536
    frame = 1
    step = 0
    while step < n_steps:
        # Noise drawn in chunks: one numpy call per 65536 steps, not per step.
        kicks = (rng.standard_normal(min(chunk, n_steps - step)) * noise_scale).tolist()
        for kick in kicks:
            x += _force(x) * dt + kick
            step += 1
            if step % stride == 0:
                out[frame] = x
                frame += 1
    return out[:, None]
