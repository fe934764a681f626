"""The molecular layer: mdtraj trajectories in, feature arrays out, and back.

Featurisers turn one :class:`mdtraj.Trajectory` or a list of them into one 2-D array
or a list of arrays (the sklss data model), so they sit at the head of a pipeline.
:class:`AlignedCoordinates` (superposed Cartesian coordinates) and
:class:`InternalCoordinates` (bond lengths, angles and torsions) produce the decoder's
targets and turn decoded arrays back into trajectories that can be written as
DCD/XTC/PDB.
"""

import mdtraj as md
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._data import check_bool, check_int, check_output_container, check_trajectories

__all__ = [
    "AlignedCoordinates",
    "DistanceFeaturizer",
    "InternalCoordinates",
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


def _fit_selection_and_reference(estimator, trajs):
    """Set ``atom_indices_``, ``topology_`` and ``reference_`` from ``selection``
    and ``reference`` (the first frame of the first trajectory when None)."""
    top = trajs[0].topology
    idx = _select(top, estimator.selection)
    ref = estimator.reference
    if ref is not None and not isinstance(ref, md.Trajectory):
        raise TypeError(
            f"reference must be an mdtraj.Trajectory or None; got {type(ref).__name__}."
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
            f"selection={estimator.selection!r}."
        )
    estimator.atom_indices_ = idx
    estimator.topology_ = top.subset(idx)
    # Own copy of the reference without a unit cell or time, so later changes to the
    # user's object cannot move the frame of reference.
    estimator.reference_ = md.Trajectory(ref.xyz.copy(), estimator.topology_)


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
        _fit_selection_and_reference(self, trajs)
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


def _zmatrix(topology, selection):
    """Placement order and reference atoms of a connected, bonded topology.

    Returns an int array of shape (n_atoms, 4): rows ``(i, j, k, m)`` in placement
    order, where atom ``i`` is bonded to ``j``, its bond angle is ``i-j-k`` and its
    torsion ``i-j-k-m`` (``-1`` where not defined: the first atom has no bond, the
    second no angle, the third no torsion). The order is a breadth-first walk of
    a spanning tree of the bond graph from atom 0, so ``j``, ``k`` and ``m`` are
    always placed before ``i``. Every atom's children are visited largest subtree
    first: that child, on the main chain, gets the proper torsion along the tree
    (the rotatable one, such as φ or ψ of a peptide); later children are placed
    relative to that first sibling, an improper torsion that stays nearly constant
    for planar and tetrahedral centres.
    """
    n = topology.n_atoms
    neighbours = [[] for _ in range(n)]
    for a, b in topology.bonds:
        neighbours[a.index].append(b.index)
        neighbours[b.index].append(a.index)
    order, parent = [0], {0: -1}
    for i in order:  # breadth-first
        for nb in sorted(neighbours[i]):
            if nb not in parent:
                parent[nb] = i
                order.append(nb)
    if len(order) != n:
        missing = sorted(set(range(n)) - set(parent))
        raise ValueError(
            f"selection={selection!r} does not select one bonded molecule: "
            f"{len(missing)} of its {n} atoms (the first "
            f"{topology.atom(missing[0])}) are not connected by bonds to the first "
            "selected atom; InternalCoordinates needs the "
            "topology's bonds (as PDB files of standard residues and OpenMM "
            "topologies provide) between the atoms of a single molecule. Use "
            "AlignedCoordinates for other selections."
        )
    # Visit every atom's children largest subtree first: the main chain, whose
    # torsions are the rotatable ones, gets the proper torsions.
    size = dict.fromkeys(range(n), 1)
    for i in reversed(order[1:]):
        size[parent[i]] += size[i]
    tree = {i: [] for i in range(n)}
    for i in order[1:]:
        tree[parent[i]].append(i)
    order = [0]
    for i in order:
        order.extend(sorted(tree[i], key=lambda c: (-size[c], c)))
    rows, children, rank = [], {i: [] for i in range(n)}, {}
    for pos, i in enumerate(order):
        j, k, m = parent[i], -1, -1
        if pos >= 2:
            k = parent[j] if parent[j] != -1 else children[j][0]
        if pos >= 3:
            siblings = [c for c in children[j] if c != k]
            if siblings:
                m = siblings[0]
            elif parent[k] not in (-1, j):
                m = parent[k]
            else:  # k is the root: another of its placed neighbours, else any
                m = next(
                    a
                    for a in [*neighbours[k], *order[:pos]]
                    if a in rank and a not in (j, k)
                )
        rows.append((i, j, k, m))
        rank[i] = pos
        if j != -1:
            children[j].append(i)
    return np.asarray(rows, dtype=np.int64)


def _unit(v):
    """Rows of ``v`` scaled to length 1 (zero rows stay zero: degenerate decoded
    geometry, such as a zero bond or a straight angle, gives finite positions)."""
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norm, np.finfo(np.float64).tiny)


def _superpose(xyz, reference):
    """Frames ``xyz`` (n, atoms, 3) optimally superposed onto ``reference``
    (atoms, 3) by rotation and translation (Kabsch, in float64)."""
    ref_center = reference.mean(axis=0)
    ref = reference - ref_center
    moved = xyz - xyz.mean(axis=1, keepdims=True)
    u, _, vt = np.linalg.svd(np.einsum("fai,aj->fij", moved, ref))
    flip = np.sign(np.linalg.det(u @ vt))  # a rotation, never a reflection
    u[:, :, 2] *= flip[:, None]
    return moved @ (u @ vt) + ref_center


def _place(C, B, A, bond, angle, torsion):
    """Positions D with ``|D - C| = bond``, angle ``B-C-D`` and torsion ``A-B-C-D``
    (mdtraj's sign convention), for arrays of frames."""
    bc = _unit(C - B)
    n = _unit(np.cross(B - A, bc))
    m = np.cross(n, bc)
    radial = bond * np.sin(angle)
    return (
        C
        - (bond * np.cos(angle)) * bc
        + (radial * np.cos(torsion)) * m
        + (radial * np.sin(torsion)) * n
    )


class InternalCoordinates(_TrajectoryTransformer):
    """Bond lengths, bond angles and torsions of a molecule's atoms, and back.

    Decoder targets in the coordinates of the chemistry: along a spanning tree of
    the bond graph (a Z-matrix), every selected atom after the first is placed by
    its bond length to a parent atom, every atom after the second by a bond angle
    and every atom after the third by a torsion. A decoder that learns these gets
    bond lengths and angles with their own spreads, and a rotation about a bond is
    one coordinate instead of a curved path of several Cartesian ones.
    :meth:`inverse_transform` rebuilds Cartesian coordinates atom by atom and
    superposes them onto the reference, so its output can be used like that of
    :class:`AlignedCoordinates`.

    Parameters
    ----------
    selection : str, default="element != H"
        mdtraj selection of the atoms: at least three atoms of one molecule,
        connected by the topology's bonds (heavy atoms, or all atoms).
    reference : mdtraj.Trajectory or None, default=None
        Structure onto which rebuilt frames are superposed (its first frame), with
        either the full topology of the data or only the selected atoms. ``None``:
        the first frame of the first trajectory given to ``fit``.

    Attributes
    ----------
    atom_indices_ : ndarray of shape (n_selected,)
        Selected atoms in the full topology.
    topology_ : mdtraj.Topology
        Topology of the selected atoms (used by :meth:`inverse_transform`).
    reference_ : mdtraj.Trajectory
        The one-frame reference of the selected atoms.
    zmatrix_ : ndarray of shape (n_selected, 4)
        Rows ``(i, j, k, m)`` in placement order, indices into the selected atoms:
        atom ``i`` has bond ``i-j``, angle ``i-j-k`` and torsion ``i-j-k-m``
        (``-1`` where not defined). The first child of an atom in the tree carries
        the proper torsion along the tree; its later children are placed relative
        to it (improper torsions).
    feature_names_out_ : list of str
        ``"bond(ACE1-C, ACE1-CH3)", ..., "angle(...)", ..., "sin(torsion ...)",
        "cos(torsion ...)", ...``.
    n_atoms_ : int
        Number of atoms of the full topology the input must have.
    n_features_out_ : int
        ``(n_selected - 1) + (n_selected - 2) + 2 * (n_selected - 3)``.

    Notes
    -----
    Columns: the bond lengths (nm), then the bond angles (radians), then every
    torsion as a ``sin, cos`` pair, in placement order. Rebuilding reads a torsion
    as ``atan2(sin, cos)`` (so decoded pairs need not lie on the unit circle) and
    clips angles to ``[0, π]``; the first atom goes to the origin, the second on
    the x axis, the third in the xy plane, and every later atom follows from its
    three reference atoms (the natural extension of reference frame). Rings are
    closed by their own bond lengths only approximately (the tree omits one bond
    per ring), and torsions about linear groups (angles near 180°) are ill-defined.

    Examples
    --------
    >>> import mdtraj as md
    >>> from sklss import InternalCoordinates
    >>> traj = md.load("traj.dcd", top="protein.pdb")  # doctest: +SKIP
    >>> ic = InternalCoordinates("element != H").fit(traj)  # doctest: +SKIP
    >>> rebuilt = ic.inverse_transform(ic.transform(traj))  # doctest: +SKIP
    """

    def __init__(self, selection="element != H", *, reference=None):
        self.selection = selection
        self.reference = reference

    def _fit_topology(self, trajs):
        _fit_selection_and_reference(self, trajs)
        top = self.topology_
        if top.n_atoms < 3:
            raise ValueError(
                f"selection={self.selection!r} matches {top.n_atoms} atom(s); "
                "InternalCoordinates needs at least 3 bonded atoms."
            )
        self.zmatrix_ = _zmatrix(top, self.selection)
        atom = [str(a) for a in top.atoms]
        Z = self.zmatrix_
        names = [f"bond({atom[i]}, {atom[j]})" for i, j, _, _ in Z[1:]]
        names += [f"angle({atom[i]}, {atom[j]}, {atom[k]})" for i, j, k, _ in Z[2:]]
        for row in Z[3:]:
            label = ", ".join(atom[a] for a in row)
            names += [f"sin(torsion {label})", f"cos(torsion {label})"]
        self.feature_names_out_ = names
        self.n_features_out_ = len(names)

    def _transform_one(self, traj):
        sliced = traj.atom_slice(self.atom_indices_)
        Z = self.zmatrix_
        bonds = md.compute_distances(sliced, Z[1:, :2])
        angles = md.compute_angles(sliced, Z[2:, :3])
        torsions = md.compute_dihedrals(sliced, Z[3:])
        out = np.empty((len(traj), self.n_features_out_), dtype=np.float32)
        nb, na = len(Z) - 1, len(Z) - 2
        out[:, :nb] = bonds
        out[:, nb : nb + na] = angles
        out[:, nb + na :: 2] = np.sin(torsions)
        out[:, nb + na + 1 :: 2] = np.cos(torsions)
        return out

    def inverse_transform(self, X):
        """Rebuild trajectories of the selected atoms from internal coordinates.

        Parameters
        ----------
        X : array-like of shape (n_frames, n_features_out) or list of such
            Bond lengths, angles and (sin, cos) torsion pairs in the layout of
            :meth:`transform`, for example ``CWGANDecoder.sample`` output.

        Returns
        -------
        mdtraj.Trajectory or list of mdtraj.Trajectory
            With topology ``topology_``, superposed onto ``reference_``; a list
            when ``X`` is a list.

        Raises
        ------
        TypeError
            ``X`` is not numeric.
        ValueError
            ``X`` is not 2-D, has no frames, contains NaN or infinity, has
            another number of columns than ``n_features_out_``, or bond lengths
            so large that the rebuilt coordinates leave the float32 range.
        """
        check_is_fitted(self)
        trajs = check_trajectories(None, X, reset=True, name="X", n_features_attr=None)
        for i, x in enumerate(trajs):
            if x.shape[1] != self.n_features_out_:
                label = f"X[{i}]" if trajs.is_list else "X"
                raise ValueError(
                    f"{label} has {x.shape[1]} columns; expected "
                    f"{self.n_features_out_} (the bond lengths, angles and (sin, "
                    "cos) torsion pairs of InternalCoordinates.transform)."
                )
        reference = self.reference_.xyz[0].astype(np.float64)
        limit = float(np.finfo(np.float32).max)
        out = []
        for i, x in enumerate(trajs):
            with np.errstate(over="ignore", invalid="ignore"):
                xyz = np.concatenate(
                    [
                        _superpose(self._rebuild(block), reference)
                        for block in np.array_split(x, -(-len(x) // 8192))
                    ]
                )
            if not np.all(np.abs(xyz) <= limit):  # also catches NaN
                label = f"X[{i}]" if trajs.is_list else "X"
                nb = len(self.zmatrix_) - 1
                raise ValueError(
                    f"{label} rebuilds coordinates beyond the float32 range (±"
                    f"{limit:.3g} nm) of mdtraj trajectories: its bond lengths reach "
                    f"{np.abs(x[:, :nb]).max():.3g}; expected bond lengths in nm."
                )
            out.append(md.Trajectory(xyz.astype(np.float32), self.topology_.copy()))
        return _mirror(out, trajs.is_list)

    def _rebuild(self, x):
        """Cartesian coordinates (float64, nm) of one block of frames."""
        Z = self.zmatrix_
        nb, na = len(Z) - 1, len(Z) - 2
        x = np.asarray(x, dtype=np.float64)
        bonds = x[:, :nb, None]
        angles = np.clip(x[:, nb : nb + na, None], 0.0, np.pi)
        torsions = np.arctan2(x[:, nb + na :: 2], x[:, nb + na + 1 :: 2])[:, :, None]
        xyz = np.zeros((len(x), len(Z), 3))
        xyz[:, Z[1, 0], 0] = bonds[:, 0, 0]
        i, j, k, _ = Z[2]
        # The third atom in the xy plane: a virtual fourth point on the y axis
        # side puts it there with torsion 0.
        virtual = xyz[:, k] + np.array([0.0, 1.0, 0.0])
        xyz[:, i] = _place(
            xyz[:, j], xyz[:, k], virtual, bonds[:, 1], angles[:, 0], 0.0
        )
        for r in range(3, len(Z)):
            i, j, k, m = Z[r]
            xyz[:, i] = _place(
                xyz[:, j],
                xyz[:, k],
                xyz[:, m],
                bonds[:, r - 1],
                angles[:, r - 2],
                torsions[:, r - 3],
            )
        return xyz
