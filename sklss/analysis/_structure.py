"""RMSD, radius of gyration and bond lengths of structures."""

import numpy as np
from sklearn.utils import Bunch

from .._data import check_int
from ._common import _as_md_trajectories


def _atom_indices(atom_indices, n_atoms, name="atom_indices"):
    """``atom_indices`` as a non-empty 1-D int array of valid atom indices, or None."""
    if atom_indices is None:
        return None
    idx = np.asarray(atom_indices)
    if idx.ndim != 1 or len(idx) == 0 or idx.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be a non-empty 1-D array of int atom indices; got "
            f"{atom_indices!r}."
        )
    if idx.min() < 0 or idx.max() >= n_atoms:
        raise ValueError(
            f"{name} must index the {n_atoms} atoms; got indices from {idx.min()} "
            f"to {idx.max()}."
        )
    return idx


def _coordinates_copy(traj, atom_indices):
    """A trajectory with its own copy of the coordinates of ``atom_indices``.

    mdtraj's RMSD and superposition centre their arguments in place; working on a
    copy leaves the user's trajectories untouched.
    """
    import mdtraj as md

    if atom_indices is not None:
        return traj.atom_slice(atom_indices)
    return md.Trajectory(traj.xyz.copy(), traj.topology)


def rmsd_to_reference(traj, reference, *, atom_indices=None, frame=0):
    """RMSD (nm) of every frame to a reference structure after optimal superposition.

    Neither ``traj`` nor ``reference`` is modified (mdtraj's :func:`mdtraj.rmsd`
    centres its arguments in place; it runs on copies here).

    Parameters
    ----------
    traj : mdtraj.Trajectory or list of mdtraj.Trajectory
        Structures (e.g. decoded LSS frames or MD).
    reference : mdtraj.Trajectory
        Reference structure (e.g. a native state), same atoms as ``traj`` or as
        ``traj`` restricted to ``atom_indices``.
    atom_indices : array-like of int, default=None
        Atoms used for superposition and RMSD (e.g. Cα); ``None`` uses all.
    frame : int, default=0
        Frame of ``reference`` used.

    Returns
    -------
    ndarray of shape (n_frames,) or list of such
        Mirrors ``traj``.

    Raises
    ------
    TypeError
        ``traj`` or ``reference`` is not an mdtraj.Trajectory (``traj`` may be a
        list of them), or ``frame`` is not an int.
    ValueError
        A trajectory has no frames or non-finite coordinates, ``frame`` or
        ``atom_indices`` is out of range, or the numbers of atoms differ.
    """
    import mdtraj as md

    trajs, is_list = _as_md_trajectories(traj, "traj")
    if not isinstance(reference, md.Trajectory):
        raise TypeError(
            f"reference must be an mdtraj.Trajectory; got {type(reference).__name__}."
        )
    _as_md_trajectories(reference, "reference")
    frame = check_int(frame, "frame", 0)
    if frame >= reference.n_frames:
        raise ValueError(
            f"frame must be < the {reference.n_frames} frames of reference; got "
            f"{frame}."
        )
    ref_full = _coordinates_copy(reference[frame], None)
    out = []
    for t in trajs:
        idx = _atom_indices(atom_indices, t.n_atoms)
        t = _coordinates_copy(t, idx)
        ref = ref_full
        if idx is not None and ref_full.n_atoms != t.n_atoms:
            ref = _coordinates_copy(ref_full, _atom_indices(idx, ref_full.n_atoms))
        if ref.n_atoms != t.n_atoms:
            raise ValueError(
                f"reference has {ref.n_atoms} atoms but traj has {t.n_atoms} (after "
                "atom_indices)."
            )
        out.append(md.rmsd(t, ref, frame=0).astype(np.float64))
    return out if is_list else out[0]


def radius_of_gyration(traj, *, atom_indices=None):
    """Radius of gyration (nm) of every frame, all atoms weighted equally.

    Parameters
    ----------
    traj : mdtraj.Trajectory or list of mdtraj.Trajectory
        Structures.
    atom_indices : array-like of int, default=None
        Atoms included (e.g. Cα or heavy atoms); ``None`` uses all.

    Returns
    -------
    ndarray of shape (n_frames,) or list of such
        Mirrors ``traj``.

    Raises
    ------
    TypeError
        ``traj`` is not an mdtraj.Trajectory or a list of them.
    ValueError
        A trajectory has no frames or non-finite coordinates, or ``atom_indices``
        is not a non-empty 1-D array of valid atom indices.
    """
    import mdtraj as md

    trajs, is_list = _as_md_trajectories(traj, "traj")
    out = []
    for t in trajs:
        idx = _atom_indices(atom_indices, t.n_atoms)
        if idx is not None:
            t = t.atom_slice(idx)
        out.append(md.compute_rg(t).astype(np.float64))
    return out if is_list else out[0]


def compare_bond_lengths(reference, generated, *, atom_pairs=None):
    """Mean bond lengths (nm) of generated structures against reference structures.

    A decoder that places atoms independently can stretch or compress bonds; the
    relative error of each mean bond length measures it.

    Parameters
    ----------
    reference : mdtraj.Trajectory or list of mdtraj.Trajectory
        Reference structures, e.g. MD.
    generated : mdtraj.Trajectory or list of mdtraj.Trajectory
        Structures to judge, e.g. decoded LSS frames, with the same atoms.
    atom_pairs : array-like of int of shape (n_pairs, 2), default=None
        Atom index pairs compared; ``None`` uses the bonds of the reference's
        topology.

    Returns
    -------
    result : Bunch
        ``atom_pairs`` (n_pairs, 2), ``labels`` (list of str, e.g.
        ``"ALA2-CA-ALA2-CB"``), ``reference_mean``, ``generated_mean``,
        ``reference_std``, ``generated_std`` (n_pairs,) in nm over all frames,
        ``relative_error`` ``|generated_mean - reference_mean| / reference_mean``
        (n_pairs,), and its ``max_relative_error`` and ``mean_relative_error``.

    Raises
    ------
    TypeError
        ``reference`` or ``generated`` is not an mdtraj.Trajectory or a list of
        them.
    ValueError
        A trajectory has no frames or non-finite coordinates, the numbers of atoms
        differ, the topology has no bonds and ``atom_pairs`` is None, or
        ``atom_pairs`` is not an int array of shape (n_pairs, 2) of valid indices
        of two different atoms.

    Examples
    --------
    >>> import mdtraj as md
    >>> import numpy as np
    >>> from sklss.analysis import compare_bond_lengths
    >>> top = md.Topology()
    >>> residue = top.add_residue("GLY", top.add_chain(), resSeq=1)
    >>> a = top.add_atom("C", md.element.carbon, residue)
    >>> b = top.add_atom("O", md.element.oxygen, residue)
    >>> top.add_bond(a, b)
    >>> ref = md.Trajectory(np.array([[[0, 0, 0], [0.12, 0, 0]]]), top)
    >>> gen = md.Trajectory(np.array([[[0, 0, 0], [0.123, 0, 0]]]), top)
    >>> result = compare_bond_lengths(ref, gen)
    >>> result.labels, round(float(result.max_relative_error), 3)
    (['GLY1-C-GLY1-O'], 0.025)
    """
    import mdtraj as md

    refs, _ = _as_md_trajectories(reference, "reference")
    gens, _ = _as_md_trajectories(generated, "generated")
    top = refs[0].topology
    if any(t.n_atoms != top.n_atoms for t in refs + gens):
        raise ValueError(
            "reference and generated must have the same atoms; got "
            f"{sorted({t.n_atoms for t in refs + gens})} atoms."
        )
    if atom_pairs is None:
        pairs = np.array([[a.index, b.index] for a, b in top.bonds], dtype=int)
        if len(pairs) == 0:
            raise ValueError(
                "The reference topology has no bonds; pass atom_pairs explicitly."
            )
    else:
        pairs = np.asarray(atom_pairs)
        if (
            pairs.ndim != 2
            or pairs.shape[1] != 2
            or len(pairs) == 0
            or pairs.dtype.kind not in "iu"
        ):
            raise ValueError(
                "atom_pairs must be an int array of shape (n_pairs, 2); got an array "
                f"of shape {pairs.shape} and dtype {pairs.dtype}."
            )
        if pairs.min() < 0 or pairs.max() >= top.n_atoms:
            raise ValueError(
                f"atom_pairs must index the {top.n_atoms} atoms; got indices from "
                f"{pairs.min()} to {pairs.max()}."
            )
        same = np.flatnonzero(pairs[:, 0] == pairs[:, 1])
        if len(same):
            raise ValueError(
                "atom_pairs must pair two different atoms (the distance of an atom "
                f"to itself is 0); got pair {pairs[same[0]].tolist()} at row "
                f"{int(same[0])}."
            )
    d_ref = np.concatenate([md.compute_distances(t, pairs) for t in refs])
    d_gen = np.concatenate([md.compute_distances(t, pairs) for t in gens])
    d_ref, d_gen = d_ref.astype(np.float64), d_gen.astype(np.float64)
    ref_mean, gen_mean = d_ref.mean(axis=0), d_gen.mean(axis=0)
    relative = np.abs(gen_mean - ref_mean) / ref_mean
    return Bunch(
        atom_pairs=pairs,
        labels=[f"{top.atom(int(i))}-{top.atom(int(j))}" for i, j in pairs],
        reference_mean=ref_mean,
        generated_mean=gen_mean,
        reference_std=d_ref.std(axis=0),
        generated_std=d_gen.std(axis=0),
        relative_error=relative,
        max_relative_error=float(relative.max()),
        mean_relative_error=float(relative.mean()),
    )
