"""Backbone torsions and Ramachandran free-energy surfaces of peptides."""

import numpy as np
from sklearn.utils import Bunch

from .._data import check_bins, check_int, check_real, histogram_edges
from ._common import _as_md_trajectories, _free_energy, _trajectories
from ._free_energy import _compare_histograms


def backbone_torsions(traj):
    """Backbone (φ, ψ) of the first residue that has both, in radians.

    Parameters
    ----------
    traj : mdtraj.Trajectory or list of mdtraj.Trajectory
        Peptide structures (for alanine dipeptide, the alanine's φ and ψ).

    Returns
    -------
    ndarray of shape (n_frames, 2) or list of such
        Mirrors ``traj``.
    """
    return _backbone_torsions(traj, "traj")


def _backbone_torsions(traj, name):
    import mdtraj as md

    trajs, is_list = _as_md_trajectories(traj, name)
    out = []
    for t in trajs:
        phi_idx, phi = md.compute_phi(t)
        psi_idx, psi = md.compute_psi(t)
        # φ of residue i is C(i-1)-N-CA-C, ψ is N-CA-C-N(i+1): match on N and CA.
        pairs = [
            (i, j)
            for i, a in enumerate(phi_idx)
            for j, b in enumerate(psi_idx)
            if a[1] == b[0] and a[2] == b[1]
        ]
        if not pairs:
            raise ValueError(f"{name} has no residue with both a φ and a ψ torsion.")
        i, j = pairs[0]
        out.append(np.column_stack([phi[:, i], psi[:, j]]).astype(np.float64))
    return out if is_list else out[0]


def _angles(X, name):
    import mdtraj as md

    if isinstance(X, md.Trajectory) or (
        isinstance(X, list | tuple) and X and isinstance(X[0], md.Trajectory)
    ):
        X = _backbone_torsions(X, name)
    trajs, _ = _trajectories(X, name)
    if trajs[0].shape[1] != 2:
        raise ValueError(
            f"{name} must hold two columns (φ, ψ) in radians or be an "
            f"mdtraj.Trajectory; got {trajs[0].shape[1]} columns."
        )
    # Wrap into [-π, π): float32 torsions can land just beyond ±π.
    return (np.concatenate(trajs) + np.pi) % (2 * np.pi) - np.pi


def ramachandran_free_energy(X, *, bins=36):
    """Free-energy surface ``F(φ, ψ) = -ln p(φ, ψ)`` in kT on a periodic grid.

    Parameters
    ----------
    X : mdtraj.Trajectory, array-like of shape (n_frames, 2), or list of such
        Structures, or (φ, ψ) in radians.
    bins : int, default=36
        Bins per angle over ``[-π, π]`` (36 gives 10° bins).

    Returns
    -------
    result : Bunch
        ``phi_edges``, ``psi_edges`` (bins + 1,), ``free_energy`` (bins, bins),
        indexed ``[φ bin, ψ bin]``, minimum 0, NaN where empty, and ``counts``.

    Raises
    ------
    TypeError
        ``X`` is neither numeric nor an mdtraj.Trajectory (or a list of them), or
        ``bins`` is not an int.
    ValueError
        ``X`` is ragged, complex, empty, not finite or does not have two columns;
        ``bins < 2`` or the surface would not fit in memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sklss.analysis import ramachandran_free_energy
    >>> angles = np.random.default_rng(0).uniform(-np.pi, np.pi, size=(1000, 2))
    >>> ramachandran_free_energy(angles).free_energy.shape
    (36, 36)
    """
    return _surface(X, "X", bins)


def _surface(X, name, bins):
    bins, _ = check_bins(bins, minimum=2, n_dims=2, n_arrays=8, allow_edges=False)
    angles = _angles(X, name)
    edges = histogram_edges(bins, (-np.pi, np.pi), angles, name)
    counts, _, _ = np.histogram2d(angles[:, 0], angles[:, 1], bins=[edges, edges])
    return Bunch(
        phi_edges=edges,
        psi_edges=edges,
        free_energy=_free_energy(counts),
        counts=counts,
    )


def _periodic_labels(mask):
    """Connected components of a 2-D mask on a torus (4-neighbour connectivity)."""
    from scipy.ndimage import label

    labels, n = label(mask)
    parent = list(range(n + 1))

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in (
        *zip(labels[0], labels[-1], strict=True),
        *zip(labels[:, 0], labels[:, -1], strict=True),
    ):
        if a and b:
            parent[find(a)] = find(b)
    roots = np.array([find(a) for a in range(n + 1)])
    _, relabelled = np.unique(roots, return_inverse=True)
    return relabelled[labels]


def compare_ramachandran(
    reference,
    generated,
    *,
    bins=36,
    min_count=20,
    basin_cutoff=3.0,
    min_basin_population=0.01,
    missing_ratio=0.1,
):
    """Compare Ramachandran free-energy surfaces of reference and generated data.

    Parameters
    ----------
    reference, generated : mdtraj.Trajectory, array-like (n_frames, 2), or lists
        MD and generated structures, or their (φ, ψ) in radians.
    bins : int, default=36
        Bins per angle.
    min_count : int, default=20
        A bin is *populated* when the reference has at least this many frames in
        it. The RMSE (after the optimal constant shift, see :func:`profile_rmse`)
        runs over populated bins the generated data also visit; populated bins it
        never visits are counted in ``n_missing_bins``. ``-ln p`` estimated from
        ``n`` independent samples has an error of about ``1/sqrt(n)`` kT, so the
        default keeps the reference's own noise near or below 0.2 kT per bin
        (more for correlated frames); the RMSE of two finite samples of the same
        distribution is not zero.
    basin_cutoff : float, default=3.0
        Basins are the connected regions (periodic in φ and ψ) of bins whose
        reference free energy is within this many kT of the minimum.
    min_basin_population : float, default=0.01
        Basins holding less reference probability than this are ignored.
    missing_ratio : float, default=0.1
        A basin is *missing* from the generated ensemble when its generated
        population is below ``missing_ratio`` times its reference population.

    Returns
    -------
    result : Bunch
        ``rmse`` (kT), ``shift``, ``n_bins`` (bins compared), ``n_missing_bins``,
        ``reference`` and ``generated`` (the :func:`ramachandran_free_energy`
        results), ``basins`` (int array (bins, bins), -1 outside basins),
        ``basin_population_reference`` and ``basin_population_generated`` (per
        basin), ``missing_basins`` (indices of missing basins).

    Raises
    ------
    TypeError
        ``reference`` or ``generated`` is neither numeric nor an
        mdtraj.Trajectory (or a list of them), ``bins`` or ``min_count`` is not
        an int, or a float parameter is not a real number.
    ValueError
        The angles are ragged, complex, empty, not finite or not two columns;
        ``bins < 2`` or too many for the memory; ``min_count < 1``;
        ``basin_cutoff`` or ``missing_ratio`` is negative or not finite;
        ``min_basin_population`` is not in [0, 1]; no bin holds ``min_count``
        reference samples, or ``generated`` visits none of them.
    """
    min_count = check_int(min_count, "min_count", 1)
    basin_cutoff = check_real(basin_cutoff, "basin_cutoff", low=0.0)
    min_basin_population = check_real(
        min_basin_population, "min_basin_population", low=0.0, high=1.0
    )
    missing_ratio = check_real(missing_ratio, "missing_ratio", low=0.0)
    ref = _surface(reference, "reference", bins)
    gen = _surface(generated, "generated", bins)
    comparison = _compare_histograms(ref.counts, gen.counts, min_count)

    components = _periodic_labels(ref.free_energy <= basin_cutoff)
    p_ref = ref.counts / ref.counts.sum()
    p_gen = gen.counts / gen.counts.sum()
    basins = np.full(components.shape, -1)
    pop_ref, pop_gen = [], []
    for c in range(1, components.max() + 1):
        region = components == c
        if p_ref[region].sum() >= min_basin_population:
            basins[region] = len(pop_ref)
            pop_ref.append(float(p_ref[region].sum()))
            pop_gen.append(float(p_gen[region].sum()))
    pop_ref, pop_gen = np.array(pop_ref), np.array(pop_gen)
    return Bunch(
        rmse=comparison.rmse,
        shift=comparison.shift,
        n_bins=comparison.n_bins,
        n_missing_bins=comparison.n_missing_bins,
        reference=ref,
        generated=gen,
        basins=basins,
        basin_population_reference=pop_ref,
        basin_population_generated=pop_gen,
        missing_basins=np.flatnonzero(pop_gen < missing_ratio * pop_ref),
    )
