"""The molecular layer: mdtraj trajectories in, feature arrays out, and back.

Featurisers turn one :class:`mdtraj.Trajectory` or a list of them into one 2-D array
or a list of arrays (the sklss data model), so they sit at the head of a pipeline.
:class:`AlignedCoordinates` produces the decoder's targets and turns decoded arrays
back into trajectories that can be written as DCD/XTC/PDB.
"""

import mdtraj as md
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._data import check_bool, check_int, check_output_container, check_trajectories

__all__ = [
    "AlignedCoordinates",
    "DistanceFeaturizer",
    "TorsionFeaturizer",
    "to_trajectory",
]

_TORSIONS = {
    "phi": md.compute_phi,
    "psi": md.compute_psi,
    "omega": md.compute_omega,
    "chi1": md.compute_chi1,
    "chi2": md.compute_chi2,
    "chi3": md.compute_chi3,
    "chi4": md.compute_chi4,
}


def recorded_timestep(traj):
    """The time between frames a trajectory records (ps), or None.

    Formats without times (DCD, or a Trajectory made from coordinates alone) get
    integer frame counts from mdtraj as times: they record no time step.
    """
    time = np.asarray(traj.time)
    if traj.n_frames < 2 or not np.issubdtype(time.dtype, np.floating):
        return None
    return float(traj.timestep)


def _check_md(X, name="X"):
    """One ``mdtraj.Trajectory`` or a non-empty list/tuple of them, with frames.

    The one check of trajectory inputs (the featurisers and ``sklss.analysis`` use
    it): every trajectory must have at least one frame and finite coordinates.
    Returns the trajectories as a list and whether a list was given.
    """
    if isinstance(X, md.Trajectory):
        trajs, is_list = [X], False
    elif isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(
                f"{name} is an empty {type(X).__name__}; expected an "
                "mdtraj.Trajectory or a non-empty list of them."
            )
        for i, t in enumerate(X):
            if not isinstance(t, md.Trajectory):
                raise TypeError(
                    f"{name}[{i}] must be an mdtraj.Trajectory; got {type(t).__name__}."
                )
        trajs, is_list = list(X), True
    else:
        raise TypeError(
            f"{name} must be an mdtraj.Trajectory or a list of them; got "
            f"{type(X).__name__}. Load trajectories with mdtraj.load."
        )
    for i, t in enumerate(trajs):
        label = f"{name}[{i}]" if is_list else name
        if t.n_frames == 0:
            raise ValueError(
                f"{label} has no frames (an mdtraj.Trajectory with 0 frames and "
                f"{t.n_atoms} atoms); expected at least one frame."
            )
        xyz = t.xyz
        if not np.isfinite(np.sum(xyz, dtype=np.float64)):
            bad = ~np.isfinite(xyz).all(axis=(1, 2))
            if bad.any():
                raise ValueError(
                    f"{label} has non-finite coordinates (NaN or infinity) in "
                    f"{int(bad.sum())} of its {t.n_frames} frames, the first at "
                    f"frame {int(np.flatnonzero(bad)[0])}; expected finite positions "
                    "in nm."
                )
    return trajs, is_list


# Keywords that are conditions by themselves ("protein", "not water"); every other
# keyword names a property that needs a value ("resname ALA", "name CA").
_BOOLEAN_ATTRIBUTES = {
    "is_backbone",
    "is_sidechain",
    "is_protein",
    "is_nucleic",
    "is_water",
}


def _check_no_bare_keyword(selection):
    """Refuse a property keyword without a value, such as ``"resname"``.

    mdtraj reads a bare property as "the property is truthy", which selects
    (almost) every atom instead of reporting the incomplete expression.
    """
    import ast

    from mdtraj.core.selection import parse_selection

    conditions = [parse_selection(selection).astnode]
    while conditions:
        node = conditions.pop()
        if isinstance(node, ast.BoolOp):
            conditions.extend(node.values)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            conditions.append(node.operand)
        elif isinstance(node, ast.Attribute) and node.attr not in _BOOLEAN_ATTRIBUTES:
            raise ValueError(
                f"the property {ast.unparse(node).removeprefix('atom.')!r} is "
                "given without a value; compare it with one, as in 'name CA' or "
                "'resname ALA'"
            )


def _select(topology, selection, name="selection"):
    if not isinstance(selection, str):
        raise TypeError(
            f"{name} must be an mdtraj selection string such as 'name CA'; got "
            f"{selection!r} of type {type(selection).__name__}."
        )
    try:
        _check_no_bare_keyword(selection)
        indices = topology.select(selection)
    except Exception as exc:
        raise ValueError(
            f"{name}={selection!r} is not a valid mdtraj selection: {exc}"
        ) from None
    if len(indices) == 0:
        raise ValueError(
            f"{name}={selection!r} matches no atom of the topology "
            f"({topology.n_atoms} atoms, {topology.n_residues} residues)."
        )
    return indices


def _mirror(outputs, is_list):
    return list(outputs) if is_list else outputs[0]


class _TrajectoryTransformer(TransformerMixin, BaseEstimator):
    """Fit on the first trajectory's topology, transform every trajectory alike."""

    def _check_input(self, X, *, reset):
        trajs, is_list = _check_md(X)
        n_atoms = trajs[0].n_atoms if reset else self.n_atoms_
        for i, t in enumerate(trajs):
            if t.n_atoms != n_atoms:
                label = f"X[{i}]" if is_list else "X"
                raise ValueError(
                    f"{label} has {t.n_atoms} atoms, but {type(self).__name__} "
                    f"{'was fitted on' if not reset else 'got first'} a topology "
                    f"with {n_atoms} atoms; all trajectories must share one "
                    "topology."
                )
        return trajs, is_list

    def fit(self, X, y=None):
        """Read the atoms or torsions to use from the topology of ``X``.

        Parameters
        ----------
        X : mdtraj.Trajectory or list of mdtraj.Trajectory
            All trajectories must share one topology (the first one is used).
        y : None
            Ignored.

        Returns
        -------
        self

        Raises
        ------
        TypeError
            ``X`` is not an mdtraj.Trajectory or a list of them.
        ValueError
            A trajectory has no frames, non-finite coordinates or another number
            of atoms than the first.
        """
        trajs, _ = self._check_input(X, reset=True)
        self.n_atoms_ = trajs[0].n_atoms
        self._fit_topology(trajs)
        return self

    def transform(self, X):
        """Compute the features of every frame.

        Parameters
        ----------
        X : mdtraj.Trajectory or list of mdtraj.Trajectory

        Returns
        -------
        ndarray of shape (n_frames, n_features) or list of such
            float32 (mdtraj's precision); a list when ``X`` is a list.

        Raises
        ------
        TypeError
            ``X`` is not an mdtraj.Trajectory or a list of them.
        ValueError
            A trajectory has no frames, non-finite coordinates or another number
            of atoms than the fitted topology.
        """
        check_is_fitted(self)
        trajs, is_list = self._check_input(X, reset=False)
        check_output_container(self, is_list)
        return _mirror([self._transform_one(t) for t in trajs], is_list)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : None
            Ignored (the input is a trajectory, not columns).

        Returns
        -------
        ndarray of str of shape (`n_features_out_`,)
        """
        check_is_fitted(self)
        return np.asarray(self.feature_names_out_, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.requires_fit = True
        return tags


class TorsionFeaturizer(_TrajectoryTransformer):
    """Backbone and side-chain torsions as (sin, cos) pairs.

    Parameters
    ----------
    angles : tuple of {"phi", "psi", "omega", "chi1", "chi2", "chi3", "chi4"}, \
default=("phi", "psi", "chi1", "chi2", "chi3", "chi4")
        Which torsions to compute (mdtraj's definitions). Residues without a
        given torsion are skipped.

    Attributes
    ----------
    torsion_indices_ : ndarray of shape (n_torsions, 4)
        The four atom indices of every torsion, in output order.
    torsion_labels_ : list of str
        ``"<angle> <residue>"`` for every torsion, such as ``"phi ALA2"``.
    feature_names_out_ : list of str
        ``"sin(phi ALA2)", "cos(phi ALA2)", ...``.
    n_atoms_ : int
        Number of atoms of the fitted topology.
    n_features_out_ : int
        ``2 * n_torsions``.

    Notes
    -----
    Each torsion θ contributes the columns ``sin θ, cos θ`` next to each other, a
    continuous representation without the 2π jump. Angles come from
    :func:`mdtraj.compute_dihedrals` in radians.

    Examples
    --------
    >>> from sklss._molecules import TorsionFeaturizer
    >>> traj = md.load("traj.dcd", top="protein.pdb")  # doctest: +SKIP
    >>> TorsionFeaturizer(angles=("phi", "psi")).fit_transform(traj)  # doctest: +SKIP
    """

    def __init__(self, angles=("phi", "psi", "chi1", "chi2", "chi3", "chi4")):
        self.angles = angles

    def _fit_topology(self, trajs):
        angles = self.angles
        if not isinstance(angles, list | tuple):
            raise TypeError(
                f"angles must be a tuple of names from {sorted(_TORSIONS)}, such as "
                f"('phi', 'psi'); got {angles!r} of type {type(angles).__name__}."
            )
        angles = tuple(angles)
        if len(angles) == 0:
            raise ValueError("angles must name at least one torsion; got ().")
        for a in angles:
            if not isinstance(a, str) or a not in _TORSIONS:
                raise ValueError(
                    f"angles must be a tuple of {sorted(_TORSIONS)}; got {a!r}."
                )
        top = trajs[0].topology
        indices, labels = [], []
        for angle in angles:
            # The torsion definitions only need the topology: evaluate on frame 0.
            idx, _ = _TORSIONS[angle](trajs[0][0])
            for quad in idx:
                indices.append(quad)
                labels.append(f"{angle} {top.atom(int(quad[1])).residue}")
        if not indices:
            raise ValueError(
                f"X has none of the torsions angles={angles} (topology with "
                f"{top.n_residues} residues); is it a protein?"
            )
        self.torsion_indices_ = np.asarray(indices, dtype=np.int64).reshape(-1, 4)
        self.torsion_labels_ = labels
        self.feature_names_out_ = [
            f"{f}({label})" for label in labels for f in ("sin", "cos")
        ]
        self.n_features_out_ = len(self.feature_names_out_)

    def _transform_one(self, traj):
        theta = md.compute_dihedrals(traj, self.torsion_indices_)
        out = np.empty((len(traj), 2 * theta.shape[1]), dtype=np.float32)
        out[:, 0::2] = np.sin(theta)
        out[:, 1::2] = np.cos(theta)
        return out


class DistanceFeaturizer(_TrajectoryTransformer):
    """Pair distances between selected atoms (by default all Cα pairs), in nm.

    Parameters
    ----------
    selection : str, default="name CA"
        mdtraj selection of the atoms; all pairs among them are used. Use, for
        example, ``"element != H"`` for heavy atoms of a molecule with one Cα.
    exclude_neighbors : int, default=0
        Skip pairs closer than or equal to this many positions in the selection
        (``1`` drops consecutive Cα pairs, whose distance is fixed by geometry).
    periodic : bool, default=True
        Minimum-image distances when the trajectory has a unit cell.

    Attributes
    ----------
    atom_indices_ : ndarray of shape (n_selected,)
        Selected atoms.
    atom_pairs_ : ndarray of shape (n_pairs, 2)
        Atom indices of every output column.
    feature_names_out_ : list of str
        ``"dist(ALA2-CA, ALA5-CA)"`` for every pair.
    n_atoms_ : int
    n_features_out_ : int

    Examples
    --------
    >>> import mdtraj as md
    >>> import numpy as np
    >>> from sklss._molecules import DistanceFeaturizer
    >>> top = md.Topology()
    >>> chain = top.add_chain()
    >>> for _ in range(4):
    ...     _ = top.add_atom("CA", md.element.carbon, top.add_residue("ALA", chain))
    >>> traj = md.Trajectory(np.random.default_rng(0).normal(size=(5, 4, 3)), top)
    >>> DistanceFeaturizer("name CA").fit_transform(traj).shape
    (5, 6)
    """

    def __init__(self, selection="name CA", *, exclude_neighbors=0, periodic=True):
        self.selection = selection
        self.exclude_neighbors = exclude_neighbors
        self.periodic = periodic

    def _fit_topology(self, trajs):
        n = check_int(self.exclude_neighbors, "exclude_neighbors", 0)
        check_bool(self.periodic, "periodic")
        top = trajs[0].topology
        idx = _select(top, self.selection)
        i, j = np.triu_indices(len(idx), k=n + 1)
        if len(i) == 0:
            raise ValueError(
                f"selection={self.selection!r} matches {len(idx)} atom(s), which "
                f"gives no pair with exclude_neighbors={n}; select more atoms."
            )
        self.atom_indices_ = idx
        self.atom_pairs_ = np.column_stack([idx[i], idx[j]]).astype(np.int64)
        self.feature_names_out_ = [
            f"dist({top.atom(int(a))}, {top.atom(int(b))})" for a, b in self.atom_pairs_
        ]
        self.n_features_out_ = len(self.feature_names_out_)

    def _transform_one(self, traj):
        return md.compute_distances(
            traj, self.atom_pairs_, periodic=bool(self.periodic)
        ).astype(np.float32, copy=False)


def to_trajectory(X, topology):
    """Turn flattened coordinates into an ``mdtraj.Trajectory``.

    Parameters
    ----------
    X : array-like of shape (n_frames, 3 * n_atoms) or list of such
        Coordinates in nm, atom by atom ``x, y, z`` (the layout of
        :class:`AlignedCoordinates`).
    topology : mdtraj.Topology or mdtraj.Trajectory
        The atoms' topology (a trajectory's topology is used).

    Returns
    -------
    mdtraj.Trajectory or list of mdtraj.Trajectory
        A list when ``X`` is a list. Save with ``.save_dcd``, ``.save_xtc`` or
        ``.save_pdb``.

    Raises
    ------
    TypeError
        ``topology`` is not an mdtraj.Topology or Trajectory, or ``X`` is not
        numeric (see :func:`~sklss._data.check_trajectories`).
    ValueError
        ``X`` is not 2-D, has no frames, contains NaN or infinity or values beyond
        the float32 range, or does not have ``3 * n_atoms`` columns.
    """
    if isinstance(topology, md.Trajectory):
        topology = topology.topology
    if not isinstance(topology, md.Topology):
        raise TypeError(
            "topology must be an mdtraj.Topology or mdtraj.Trajectory; got "
            f"{type(topology).__name__}."
        )
    trajs = check_trajectories(None, X, reset=True, name="X", n_features_attr=None)
    width = trajs[0].shape[1]
    limit = float(np.finfo(np.float32).max)
    for i, x in enumerate(trajs):
        if np.abs(x).max() > limit:
            label = f"X[{i}]" if trajs.is_list else "X"
            raise ValueError(
                f"{label} holds coordinates beyond the float32 range (±{limit:.3g} "
                f"nm) of mdtraj trajectories, up to {np.abs(x).max():.3g}; expected "
                "positions in nm."
            )
    if width != 3 * topology.n_atoms:
        raise ValueError(
            f"X has {width} columns, but the topology has {topology.n_atoms} atoms; "
            f"expected 3 * n_atoms = {3 * topology.n_atoms} columns (x, y, z per "
            "atom, in nm)."
        )
    out = [
        md.Trajectory(
            np.asarray(x, dtype=np.float32).reshape(len(x), topology.n_atoms, 3),
            topology.copy(),
        )
        for x in trajs
    ]
    return _mirror(out, trajs.is_list)


class AlignedCoordinates(_TrajectoryTransformer):
    """Cartesian coordinates of selected atoms, superposed onto a reference.

    The decoder's targets: every frame's selected atoms are optimally superposed
    (rotation and translation, :meth:`mdtraj.Trajectory.superpose`) onto the
    reference and flattened to ``(n_frames, 3 * n_atoms)`` in nm.
    :meth:`inverse_transform` turns such arrays (for example decoded ones) back into
    trajectories of the selected atoms.

    Parameters
    ----------
    selection : str, default="name CA"
        mdtraj selection of the atoms, such as ``"name CA"`` or ``"element != H"``.
    reference : mdtraj.Trajectory or None, default=None
        Structure to superpose onto (its first frame), with either the full
        topology of the data or only the selected atoms. ``None``: the first frame
        of the first trajectory given to ``fit``.

    Attributes
    ----------
    atom_indices_ : ndarray of shape (n_selected,)
        Selected atoms in the full topology.
    topology_ : mdtraj.Topology
        Topology of the selected atoms (used by :meth:`inverse_transform`).
    reference_ : mdtraj.Trajectory
        The one-frame reference of the selected atoms.
    feature_names_out_ : list of str
        ``"ALA2-CA_x", "ALA2-CA_y", ...``.
    n_atoms_ : int
        Number of atoms of the full topology the input must have.
    n_features_out_ : int
        ``3 * n_selected``.

    Examples
    --------
    >>> import mdtraj as md
    >>> import numpy as np
    >>> from sklss._molecules import AlignedCoordinates
    >>> top = md.Topology()
    >>> chain = top.add_chain()
    >>> for _ in range(4):
    ...     _ = top.add_atom("CA", md.element.carbon, top.add_residue("ALA", chain))
    >>> traj = md.Trajectory(np.random.default_rng(0).normal(size=(5, 4, 3)), top)
    >>> aligned = AlignedCoordinates("name CA").fit(traj)
    >>> X = aligned.transform(traj)
    >>> X.shape
    (5, 12)
    >>> aligned.inverse_transform(X).n_atoms
    4
    """

    def __init__(self, selection="name CA", *, reference=None):
        self.selection = selection
        self.reference = reference

    def _fit_topology(self, trajs):
        top = trajs[0].topology
        idx = _select(top, self.selection)
        ref = self.reference
        if ref is not None and not isinstance(ref, md.Trajectory):
            raise TypeError(
                "reference must be an mdtraj.Trajectory or None; got "
                f"{type(ref).__name__}."
            )
        if ref is None:
            ref = trajs[0][0].atom_slice(idx)
        elif _check_md(ref, "reference") and ref.n_atoms == top.n_atoms:
            ref = ref[0].atom_slice(idx)
        elif ref.n_atoms == len(idx):
            ref = ref[0]
        else:
            raise ValueError(
                f"reference has {ref.n_atoms} atoms; expected the full topology "
                f"({top.n_atoms} atoms) or the {len(idx)} atoms of "
                f"selection={self.selection!r}."
            )
        self.atom_indices_ = idx
        self.topology_ = top.subset(idx)
        # Own copy of the reference without a unit cell or time, so later changes
        # to the user's object cannot move the frame of reference.
        self.reference_ = md.Trajectory(ref.xyz.copy(), self.topology_)
        self.feature_names_out_ = [
            f"{atom}_{c}" for atom in self.topology_.atoms for c in "xyz"
        ]
        self.n_features_out_ = len(self.feature_names_out_)

    def _transform_one(self, traj):
        # atom_slice copies, so superposing never moves the user's trajectory.
        sliced = traj.atom_slice(self.atom_indices_)
        sliced.superpose(self.reference_)
        return sliced.xyz.reshape(len(sliced), -1).astype(np.float32, copy=False)

    def inverse_transform(self, X):
        """Turn flattened coordinates back into trajectories of the selected atoms.

        Parameters
        ----------
        X : array-like of shape (n_frames, 3 * n_selected) or list of such
            Coordinates in nm, for example ``CWGANDecoder.sample`` output.

        Returns
        -------
        mdtraj.Trajectory or list of mdtraj.Trajectory
            With topology ``topology_``; a list when ``X`` is a list.
        """
        check_is_fitted(self)
        return to_trajectory(X, self.topology_)
