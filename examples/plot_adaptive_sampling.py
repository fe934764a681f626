"""
Adaptive sampling: the simulator decides where OpenMM runs next
================================================================

Plain MD spends its time where it already is: a short run of alanine dipeptide
started from the extended structure stays in the β/PII basin and the nearby αR
basin for a long time. A latent space simulator trained on that MD knows which
slow states the MD has visited and where its learnt dynamics leads; adaptive
sampling uses it to choose where to start the next, short MD segments, retrains
on everything, and repeats.

Here :class:`sklss.md.OpenMMEngine` runs the MD (the force field, implicit solvent
and integrator of :func:`sklss.datasets.load_alanine_dipeptide`) and
:class:`sklss.adaptive.AdaptiveSampler` runs three rounds with the ``"lss"``
strategy: the simulator generates synthetic trajectories, the latent bins it
visits much more often than the MD did are the targets, and new segments start
from the MD frames nearest to them. Small networks and short segments keep the
script to a couple of minutes on two CPU cores.
"""

import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from sklss import LatentSpaceSimulator, MDNPropagator, SRVTransformer  # noqa: E402
from sklss.adaptive import AdaptiveSampler  # noqa: E402
from sklss.analysis import backbone_torsions  # noqa: E402
from sklss.md import OpenMMEngine, alanine_dipeptide_structure  # noqa: E402

# %%
# Initial MD
# ----------
# 100 ps from the energy-minimised extended structure, a frame every ps.
engine = OpenMMEngine.alanine_dipeptide(random_state=0)
initial = engine.run(alanine_dipeptide_structure(), 100, verbose=False)
print(f"initial MD: {initial[0].n_frames} frames, {engine.md_time_ns_:.2f} ns")

# %%
# Three rounds of adaptive sampling
# ---------------------------------
# Every round fits a fresh simulator on all MD so far (SRV encoder and MDN
# propagator; no decoder is needed to choose starts), chooses 8 starts and runs
# 20 ps from each. The fitted simulator at the end has seen all of it.
simulator = LatentSpaceSimulator(
    encoder=SRVTransformer(n_components=2, hidden_layer_sizes=(32, 32), max_epochs=20),
    propagator=MDNPropagator(n_kernels=4, hidden_layer_sizes=(32, 32), max_epochs=20),
    lagtime=5,
    timestep=engine.frame_interval,
)
sampler = AdaptiveSampler(
    simulator,
    engine,
    n_rounds=3,
    n_segments=8,
    segment_length=20,
    strategy="lss",
    n_generated_trajectories=100,
    n_generated_steps=200,
    random_state=0,
    verbose=False,
)
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=ConvergenceWarning)  # short fits
    result = sampler.run(initial)

for record in result.rounds:
    print(
        f"round {record['round'] + 1}: chose {len(record['starts'])} starts, "
        f"{record['score_name']} {max(record['scores']):.3g} to "
        f"{min(record['scores']):.3g}; MD total {record['md_time_ns']:.2f} ns"
    )

# %%
# Where the new MD went
# ---------------------
# Left: the backbone torsions of the initial run and of every round's segments.
# Right: the Ramachandran bins (10° x 10°) visited by all MD so far, against the
# MD time spent.
angles = [np.degrees(backbone_torsions(t)) for t in result.trajectories]
n_segments = sampler.n_segments
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
left.scatter(*angles[0].T, s=4, color="0.6", label="initial MD")
colors = plt.cm.viridis(np.linspace(0.1, 0.9, len(result.rounds)))
for r, color in enumerate(colors):
    segments = angles[1 + r * n_segments : 1 + (r + 1) * n_segments]
    phi_psi = np.concatenate(segments)
    left.scatter(*phi_psi.T, s=4, color=color, label=f"round {r + 1}")
left.set(xlim=(-180, 180), ylim=(-180, 180), xlabel="φ (°)", ylabel="ψ (°)")
left.legend(markerscale=3, fontsize=8)

edges = np.linspace(-180, 180, 37)
md_ns = [result.initial_md_time_ns] + [r["md_time_ns"] for r in result.rounds]
visited = []
for r in range(len(result.rounds) + 1):
    collected = np.concatenate(angles[: 1 + r * n_segments])
    counts, _, _ = np.histogram2d(*collected.T, bins=[edges, edges])
    visited.append(int((counts > 0).sum()))
right.plot(md_ns, visited, marker="o")
right.set(xlabel="MD time (ns)", ylabel="Ramachandran bins visited")
fig.tight_layout()
plt.show()
