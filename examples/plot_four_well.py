"""
Four-well potential: validating the MDN propagator (paper Fig. 2)
=================================================================

A mixture density network propagator (:class:`sklss.MDNPropagator`) is fitted
directly on a Brownian dynamics trajectory of the 1-D four-well potential
``V(x) = 2(x^8 + 0.8 e^{-80x^2} + 0.2 e^{-80(x-0.5)^2} + 0.5 e^{-40(x+0.5)^2})``
(no encoder or decoder: here the latent space is ``x`` itself) and then sampled to
generate a new trajectory four times as long as the data. We compare

(a) the stationary distributions with the exact Boltzmann density,
(b) the trajectories (kinetics of hopping between the four wells) and the implied
    time scales of Markov state models (deeptime) built on both,
(c) and (d) the paper's analytical bin-to-bin transition probabilities with the
    learned transition density ``p(x' | x)`` on the same 100 bins.

The paper's analytical matrix ``p(j|i) = C_i exp(-(V_j - V_i))`` for ``|i-j| <= 1``
describes hops between neighbouring bins; panel (c) shows its power ``P^n`` whose
diffusive spread matches the MDN lag of 100 integration steps, so that (c) and (d)
describe the same time interval.

Brownian dynamics: ``x' = x - V'(x) dt + sqrt(2 dt) xi`` with ``kT = 1``,
``dt = 1e-3`` (see :func:`sklss.datasets.make_four_well`); 5e6 steps saved every
100 steps (the MDN lag), as in the paper.
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklss import MDNPropagator  # noqa: E402
from sklss.datasets import (  # noqa: E402
    compare_four_well,
    four_well_boltzmann_density,
    four_well_transition_matrix,
    make_four_well,
)

# %%
# Simulate, fit, generate
# -----------------------
X = make_four_well(5_000_000, stride=100, random_state=0)
mdn = MDNPropagator(
    lagtime=1,
    n_kernels=8,
    hidden_layer_sizes=(100, 100),
    batch_size=256,
    n_iter_no_change=20,
    random_state=0,
)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    mdn.fit(X)
generated = mdn.sample(X[0], 4 * len(X), random_state=0)
print(f"BD frames: {X.shape}, generated frames: {generated.shape}")

# %%
# Stationary distribution and MSM time scales
# -------------------------------------------
# :func:`~sklss.datasets.compare_four_well` bins both trajectories, compares them
# with the exact Boltzmann probabilities of the bins and estimates a reversible
# Markov state model on 100 bins of each (deeptime, lag one frame = 100 steps).
result = compare_four_well(X, generated, edges=np.linspace(-1, 1, 61), n_timescales=2)
print(
    f"total-variation distance to the exact density: BD "
    f"{result.tv_reference_vs_exact:.3f}, MDN {result.tv_generated_vs_exact:.3f}"
)
print(
    "slowest MSM time scales (steps): BD",
    result.timescales_reference * 100,
    "MDN",
    result.timescales_generated * 100,
)

# %%
# The figure
# ----------
fig, axes = plt.subplots(2, 2, figsize=(10, 8))
ax = axes[0, 0]
grid = np.linspace(-1.1, 1.1, 500)
ax.plot(grid, four_well_boltzmann_density(grid), "k-", label="exact")
centers, width = 0.5 * (result.edges[1:] + result.edges[:-1]), np.diff(result.edges)
for p, label in (
    (result.reference_probabilities, "BD"),
    (result.generated_probabilities, "MDN"),
):
    ax.step(centers, p / width, where="mid", lw=1.5, label=label)
ax.set(xlabel="x", ylabel="p(x)", title="(a) stationary distribution")
ax.legend()

ax = axes[0, 1]
n_show = 1000
t = np.arange(n_show) * 100
ax.plot(t, X[:n_show, 0], lw=0.5, label="BD")
ax.plot(t, generated[:n_show, 0] - 2.5, lw=0.5, label="MDN (shifted by -2.5)")
ax.set(xlabel="time (steps)", ylabel="x", title="(b) trajectories")
ax.legend(loc="upper right", fontsize=8)

centers, P = four_well_transition_matrix(100)
width = centers[1] - centers[0]
# One application of P is a hop to a neighbouring bin (variance 2 w^2 / 3 on flat
# ground); n hops match the diffusive spread 2 D tau of the MDN lag tau = 0.1
# (100 steps of dt = 1e-3, D = kT = 1), so P^n is the analytical reference at the
# MDN's lag.
n_hops = round(3 * 1.0 * 0.1 / width**2)
P_lag = np.linalg.matrix_power(P, n_hops)
extent = (centers[0], centers[-1], centers[0], centers[-1])
ax = axes[1, 0]
ax.imshow(P_lag.T, origin="lower", extent=extent, cmap="viridis", aspect="auto")
ax.set(xlabel="x (from)", ylabel="x' (to)", title=f"(c) analytical p(j | i)^{n_hops}")

ax = axes[1, 1]
learned = mdn.transition_density(centers[:, None], centers[:, None]) * width
ax.imshow(learned.T, origin="lower", extent=extent, cmap="viridis", aspect="auto")
ax.set(
    xlabel="x (from)", ylabel="x' (to)", title="(d) learned p(x' | x), lag 100 steps"
)
fig.tight_layout()

if __name__ == "__main__":
    fig.savefig("plot_four_well.png", dpi=100)
    print("saved plot_four_well.png")
