"""
Four-well potential: validating the MDN propagator (paper Fig. 2)
=================================================================

A mixture density network propagator (:class:`sklss.MDNPropagator`) is fitted
directly on a Brownian dynamics trajectory of the 1-D four-well potential
``V(x) = 2(x^8 + 0.8 e^{-80x^2} + 0.2 e^{-80(x-0.5)^2} + 0.5 e^{-40(x+0.5)^2})``
(no encoder or decoder: here the latent space is ``x`` itself) and then sampled to
generate a new trajectory four times as long as the data. We compare

- the stationary distributions with the exact Boltzmann density (panel a),
- the trajectories, the kinetics of hopping between the four wells (b, e), and
  the implied time scales of Markov state models (deeptime) built on both (d),
- the learned transition density ``p(x' | x)`` at the MDN's lag with the exact
  one, from the Smoluchowski equation of the same dynamics (c, f).

The paper compares with an analytical matrix ``p(j|i) = C_i exp(-(V_j - V_i))``
for ``|i-j| <= 1``, hops between neighbouring bins, which describes another
dynamics with the same stationary density; its powers match the MDN's lag only
roughly. :func:`sklss.datasets.four_well_transition_density` solves the
Smoluchowski equation of the Brownian dynamics used here instead, so panel (f) is
the exact ``p(x' | x)`` over the lag of 100 integration steps.

Brownian dynamics: ``x' = x - V'(x) dt + sqrt(2 dt) xi`` with ``kT = 1``,
``dt = 1e-3`` (see :func:`sklss.datasets.make_four_well`); 5e6 steps saved every
100 steps (the MDN lag), as in the paper.
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklss import MDNPropagator  # noqa: E402
from sklss.datasets import compare_four_well, make_four_well  # noqa: E402
from sklss.plotting import plot_four_well  # noqa: E402

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
fig = plot_four_well(result, X, generated, mdn, stride=100)

if __name__ == "__main__":
    fig.savefig("plot_four_well.png", dpi=100)
    print("saved plot_four_well.png")
