"""
Slow modes of the swissroll with an SRV
=======================================

The swissroll model hides a four-state Markov chain behind a nonlinear 3-D
embedding. A state-free reversible VAMPnet (:class:`sklss.SRVTransformer`) learns
its slowest eigenfunctions from the trajectory alone; the implied time scales are
compared with the exact ones of the hidden chain, and the first eigenfunction
``psi_1`` is drawn over the embedding.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklss import SRVTransformer
from sklss.datasets import make_swissroll, swissroll_transition_matrix

X, states = make_swissroll(50_000, return_states=True, random_state=0)
lagtime = 10
srv = SRVTransformer(lagtime=lagtime, n_components=2, random_state=0).fit(X)

eigenvalues = np.sort(np.linalg.eigvals(swissroll_transition_matrix()).real)[::-1]
exact = -1 / np.log(eigenvalues[1:3])
print(f"fitted in {srv.n_epochs_} epochs")
print("SRV time scales (frames):  ", np.round(srv.timescales_, 2))
print("exact time scales (frames):", np.round(exact, 2))

# %%
# ``psi_1`` separates the inner turn of the roll (states 0, 1) from the outer one
# (states 2, 3): the slowest process. ``psi_2`` splits them further.
psi = srv.transform(X)
fig = plt.figure(figsize=(10, 4))
for i in range(2):
    ax = fig.add_subplot(1, 2, i + 1, projection="3d")
    sc = ax.scatter(*X[::10].T, c=psi[::10, i], s=2, cmap="coolwarm")
    ax.set_title(f"$\\psi_{i + 1}$, t = {srv.timescales_[i]:.1f} frames")
    fig.colorbar(sc, ax=ax, shrink=0.6)
plt.tight_layout()
plt.show()
