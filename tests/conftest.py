"""Fixtures shared by the test modules.

- ``ar1``: a factory of AR(1) processes, whose correlations are known exactly;
- ``kabsch_rmsd``: RMSD after optimal superposition, plain numpy SVD (independent
  of mdtraj);
- ``alanine_md``: short Langevin MD of alanine dipeptide run here with OpenMM
  (amber14 in vacuum, 300 K, 4 fs steps with hydrogen mass repartitioning and
  constrained bonds to hydrogen, Reference platform: about 1e5 steps/s for 22
  atoms), cached per session. The starting structure is the tleap-built alanine
  dipeptide shipped with openmmtools, embedded below so the tests need neither
  openmmtools nor network access.
"""

import io
import os

# scikit-learn's array API checks of the estimators run only when SciPy's array API
# support is switched on; it must be set before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.signal import lfilter  # noqa: E402

ALANINE_DIPEPTIDE_PDB = """\
ATOM      1 1HH3 ACE     1       2.000   1.000  -0.000
ATOM      2  CH3 ACE     1       2.000   2.090   0.000
ATOM      3 2HH3 ACE     1       1.486   2.454   0.890
ATOM      4 3HH3 ACE     1       1.486   2.454  -0.890
ATOM      5  C   ACE     1       3.427   2.641  -0.000
ATOM      6  O   ACE     1       4.391   1.877  -0.000
ATOM      7  N   ALA     2       3.555   3.970  -0.000
ATOM      8  H   ALA     2       2.733   4.556  -0.000
ATOM      9  CA  ALA     2       4.853   4.614  -0.000
ATOM     10  HA  ALA     2       5.408   4.316   0.890
ATOM     11  CB  ALA     2       5.661   4.221  -1.232
ATOM     12 1HB  ALA     2       5.123   4.521  -2.131
ATOM     13 2HB  ALA     2       6.630   4.719  -1.206
ATOM     14 3HB  ALA     2       5.809   3.141  -1.241
ATOM     15  C   ALA     2       4.713   6.129   0.000
ATOM     16  O   ALA     2       3.601   6.653   0.000
ATOM     17  N   NME     3       5.846   6.835   0.000
ATOM     18  H   NME     3       6.737   6.359  -0.000
ATOM     19  CH3 NME     3       5.846   8.284   0.000
ATOM     20 1HH3 NME     3       4.819   8.648   0.000
ATOM     21 2HH3 NME     3       6.360   8.648   0.890
ATOM     22 3HH3 NME     3       6.360   8.648  -0.890
TER
END
"""


def _ar1(n, a, rng, *, n_features=None, mix=None, unit_variance=True):
    """Independent AR(1) coordinates ``x_i[t+1] = a_i x_i[t] + noise``.

    ``C_i(tau) = a_i**tau`` exactly (relaxation time ``-1/ln a_i``). ``a`` is one
    coefficient (for ``n_features`` columns, default 1) or one per column. With
    ``unit_variance`` the noise is scaled so every coordinate has variance 1; the
    result is optionally mixed, ``x @ mix``.
    """
    a = np.atleast_1d(np.asarray(a, dtype=float))
    if n_features is not None:
        a = np.broadcast_to(a, (n_features,))
    noise = rng.normal(size=(n, len(a)))
    if unit_variance:
        noise *= np.sqrt(1 - a**2)
    x = np.column_stack(
        [lfilter([1.0], [1.0, -ai], noise[:, i]) for i, ai in enumerate(a)]
    )
    return x if mix is None else x @ mix


@pytest.fixture(scope="session")
def ar1():
    """The AR(1) factory ``ar1(n, a, rng, *, n_features, mix, unit_variance)``."""
    return _ar1


def _kabsch_rmsd(a, b):
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    u, s, vt = np.linalg.svd(a.T @ b)
    s[-1] *= np.sign(np.linalg.det(u @ vt))
    msd = (np.sum(a**2) + np.sum(b**2) - 2 * s.sum()) / len(a)
    return np.sqrt(max(msd, 0.0))


@pytest.fixture(scope="session")
def kabsch_rmsd():
    """``kabsch_rmsd(a, b)`` for two ``(n_atoms, 3)`` arrays, numpy only."""
    return _kabsch_rmsd


def run_alanine_md(n_frames, *, steps_per_frame=250, seed=0, n_equilibration=5000):
    """Langevin MD of alanine dipeptide; frames every ``steps_per_frame * 4 fs``."""
    openmm = pytest.importorskip("openmm")
    from openmm import app, unit

    pdb = app.PDBFile(io.StringIO(ALANINE_DIPEPTIDE_PDB))
    system = app.ForceField("amber14-all.xml").createSystem(
        pdb.topology,
        nonbondedMethod=app.NoCutoff,
        constraints=app.HBonds,
        hydrogenMass=3 * unit.amu,
    )
    temperature = 300 * unit.kelvin
    integrator = openmm.LangevinMiddleIntegrator(
        temperature, 1 / unit.picosecond, 4 * unit.femtosecond
    )
    integrator.setRandomNumberSeed(seed + 1)
    simulation = app.Simulation(
        pdb.topology, system, integrator, openmm.Platform.getPlatformByName("Reference")
    )
    simulation.context.setPositions(pdb.positions)
    simulation.minimizeEnergy()
    simulation.context.setVelocitiesToTemperature(temperature, seed + 1)
    simulation.step(n_equilibration)
    xyz = np.empty((n_frames, pdb.topology.getNumAtoms(), 3), dtype=np.float32)
    for i in range(n_frames):
        simulation.step(steps_per_frame)
        state = simulation.context.getState(getPositions=True)
        xyz[i] = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
    import mdtraj as md

    topology = md.Topology.from_openmm(pdb.topology)
    return md.Trajectory(xyz, topology)


@pytest.fixture(scope="session")
def alanine_md():
    """``alanine_md(n_frames, seed=0)``: an ``mdtraj.Trajectory`` of alanine
    dipeptide MD (1 ps per frame), computed once per session and arguments."""
    cache = {}

    def get(n_frames, seed=0):
        if (n_frames, seed) not in cache:
            cache[n_frames, seed] = run_alanine_md(n_frames, seed=seed)
        return cache[n_frames, seed]

    return get
