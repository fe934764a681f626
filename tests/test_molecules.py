"""Tests of the molecular layer and of the decoder on a real molecule.

Molecular data come from short MD of alanine dipeptide (ACE-ALA-NME) generated
with OpenMM by the ``alanine_md`` fixture (see conftest.py).
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

md = pytest.importorskip("mdtraj")

from sklss._molecules import (  # noqa: E402
    AlignedCoordinates,
    DistanceFeaturizer,
    InternalCoordinates,
    TorsionFeaturizer,
    to_trajectory,
)

HEAVY = "element != H"


@pytest.fixture(scope="module")
def trajs(alanine_md):
    """Two independent 200 ps trajectories, 1 ps per frame (~2 s)."""
    return [alanine_md(200, seed=s) for s in (0, 1)]


def _dihedral(p0, p1, p2, p3):
    """IUPAC torsion from coordinates, plain numpy (independent of mdtraj)."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1 = b1 / np.linalg.norm(b1, axis=-1, keepdims=True)
    v = b0 - np.sum(b0 * b1, axis=-1, keepdims=True) * b1
    w = b2 - np.sum(b2 * b1, axis=-1, keepdims=True) * b1
    x = np.sum(v * w, axis=-1)
    y = np.sum(np.cross(b1, v) * w, axis=-1)
    return np.arctan2(y, x)


def _atom(top, residue, name):
    (idx,) = [
        a.index for a in top.atoms if a.residue.name == residue and a.name == name
    ]
    return idx


# --- featurisation -----------------------------------------------------------------


def test_torsions_match_numpy(trajs):
    t = trajs[0]
    top = t.topology
    feat = TorsionFeaturizer().fit(t)
    # Alanine has no side-chain torsion: only phi and psi remain.
    assert list(feat.get_feature_names_out()) == [
        "sin(phi ALA2)",
        "cos(phi ALA2)",
        "sin(psi ALA2)",
        "cos(psi ALA2)",
    ]
    out = feat.transform(t)
    assert out.shape == (len(t), 4) and out.dtype == np.float32
    x = t.xyz.astype(np.float64)
    c0, n, ca = (
        _atom(top, "ACE", "C"),
        _atom(top, "ALA", "N"),
        _atom(top, "ALA", "CA"),
    )
    c, n2 = _atom(top, "ALA", "C"), _atom(top, "NME", "N")
    phi = _dihedral(x[:, c0], x[:, n], x[:, ca], x[:, c])
    psi = _dihedral(x[:, n], x[:, ca], x[:, c], x[:, n2])
    expected = np.column_stack([np.sin(phi), np.cos(phi), np.sin(psi), np.cos(psi)])
    np.testing.assert_allclose(out, expected, atol=2e-5)


def test_torsions_list_in_list_out(trajs):
    out = TorsionFeaturizer(angles=("psi",)).fit_transform(trajs)
    assert isinstance(out, list) and [o.shape for o in out] == [(200, 2), (200, 2)]


def test_feature_union_of_featurisers_takes_lists(trajs):
    from sklearn.pipeline import make_union

    from sklss import FeatureUnion

    parts = [
        ("torsions", TorsionFeaturizer(angles=("phi", "psi"))),
        ("distances", DistanceFeaturizer(HEAVY)),
    ]
    union = FeatureUnion(parts, transformer_weights={"distances": 2.0})
    uneven = [trajs[0], trajs[1][:150]]
    out = union.fit_transform(uneven)
    assert isinstance(out, list) and [o.shape for o in out] == [(200, 49), (150, 49)]
    # Each trajectory's features are those of each featuriser side by side, the
    # weights applied, as scikit-learn's union gives for one trajectory.
    for t, features in zip(uneven, out, strict=True):
        np.testing.assert_array_equal(
            features,
            np.hstack(
                [
                    TorsionFeaturizer(angles=("phi", "psi")).fit_transform(t),
                    2.0 * DistanceFeaturizer(HEAVY).fit_transform(t),
                ]
            ),
        )
        np.testing.assert_array_equal(union.transform(t), features)
    assert len(union.get_feature_names_out()) == 49
    # scikit-learn's own union cannot stack lists of trajectories.
    with pytest.raises(ValueError):
        make_union(*(p for _, p in parts)).fit_transform(uneven)
    with pytest.raises(ValueError, match="empty list"):
        union.transform([])


def test_distances_match_numpy(trajs):
    t = trajs[0]
    heavy = t.topology.select(HEAVY)
    feat = DistanceFeaturizer(HEAVY).fit(t)
    out = feat.transform(t)
    i, j = np.triu_indices(len(heavy), k=1)
    x = t.xyz.astype(np.float64)
    expected = np.linalg.norm(x[:, heavy[i]] - x[:, heavy[j]], axis=-1)
    assert out.shape == (len(t), 45)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    names = feat.get_feature_names_out()
    assert len(names) == 45 and names[0] == "dist(ACE1-CH3, ACE1-C)"
    # exclude_neighbors=1 drops the 9 pairs adjacent in the selection.
    assert (
        DistanceFeaturizer(HEAVY, exclude_neighbors=1).fit_transform(t).shape[1] == 36
    )


def test_featurizers_clone_and_pickle(trajs):
    for feat in (TorsionFeaturizer(), DistanceFeaturizer(HEAVY)):
        fitted = clone(feat).fit(trajs)
        again = pickle.loads(pickle.dumps(fitted))
        np.testing.assert_array_equal(
            again.transform(trajs[1]), fitted.transform(trajs[1])
        )


# --- aligned coordinates -----------------------------------------------------------


def test_alignment_rmsd_equals_mdtraj(trajs, kabsch_rmsd):
    t = trajs[0]
    before = t.xyz.copy()
    aligned = AlignedCoordinates(HEAVY).fit(t)
    X = aligned.transform(t)
    assert X.shape == (len(t), 30) and X.dtype == np.float32
    np.testing.assert_array_equal(t.xyz, before)  # the user's trajectory is untouched
    ref = aligned.reference_.xyz[0].astype(np.float64)
    coords = X.reshape(len(t), 10, 3).astype(np.float64)
    # After superposition the plain RMSD is the optimal one.
    direct = np.sqrt(np.mean(np.sum((coords - ref) ** 2, axis=-1), axis=1))
    sliced = t.atom_slice(t.topology.select(HEAVY))
    # md.rmsd centres its arguments in place: hand it copies.
    np.testing.assert_allclose(
        direct, md.rmsd(sliced[:], aligned.reference_[0]), atol=2e-5
    )
    kabsch = [kabsch_rmsd(c, ref) for c in sliced.xyz.astype(np.float64)]
    np.testing.assert_allclose(direct, kabsch, atol=2e-5)
    # The first frame is the default reference.
    np.testing.assert_allclose(X[0], sliced.xyz[0].ravel(), atol=1e-6)


def test_alignment_invariant_to_rigid_motion(trajs):
    t = trajs[0]
    aligned = AlignedCoordinates(HEAVY, reference=trajs[1][5]).fit(t)
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    moved = md.Trajectory(t.xyz @ q.T.astype(np.float32) + 1.5, t.topology)
    # mdtraj superposes in float32 (QCP); 1e-4 nm = 0.001 Å is that precision.
    np.testing.assert_allclose(
        aligned.transform(moved), aligned.transform(t), atol=1e-4
    )


def test_reference_with_selected_atoms_only(trajs):
    t = trajs[0]
    sel = t.topology.select(HEAVY)
    full = AlignedCoordinates(HEAVY, reference=trajs[1][3]).fit(t)
    subset = AlignedCoordinates(HEAVY, reference=trajs[1][3].atom_slice(sel)).fit(t)
    np.testing.assert_allclose(subset.transform(t), full.transform(t), atol=1e-6)


def test_round_trip_dcd_and_pdb(trajs, tmp_path):
    aligned = AlignedCoordinates(HEAVY).fit(trajs)
    X = aligned.transform(trajs)
    assert isinstance(X, list)
    back = aligned.inverse_transform(X)
    assert isinstance(back, list) and back[0].n_atoms == 10
    assert [a.name for a in back[0].topology.atoms] == [
        a.name for a in aligned.topology_.atoms
    ]
    back[0].save_dcd(str(tmp_path / "decoded.dcd"))
    back[0][0].save_pdb(str(tmp_path / "decoded.pdb"))
    loaded = md.load(str(tmp_path / "decoded.dcd"), top=str(tmp_path / "decoded.pdb"))
    np.testing.assert_allclose(loaded.xyz.reshape(len(loaded), -1), X[0], atol=1e-5)
    pdb = md.load(str(tmp_path / "decoded.pdb"))
    np.testing.assert_allclose(pdb.xyz[0].ravel(), X[0][0], atol=1e-4)  # 0.001 Å
    assert pdb.topology.n_bonds == aligned.topology_.n_bonds
    single = to_trajectory(X[1], aligned.reference_)
    assert isinstance(single, md.Trajectory) and single.n_frames == len(X[1])


def test_aligned_coordinates_pickle(trajs):
    aligned = AlignedCoordinates(HEAVY).fit(trajs[0])
    again = pickle.loads(pickle.dumps(aligned))
    np.testing.assert_array_equal(
        again.transform(trajs[1]), aligned.transform(trajs[1])
    )
    X = again.transform(trajs[1])
    assert again.inverse_transform(X).topology == aligned.topology_


# --- internal coordinates ----------------------------------------------------------


def _superposed(traj, reference):
    out = traj[:]  # a copy: superpose works in place
    out.superpose(reference)
    return out


@pytest.mark.parametrize("selection", [HEAVY, "all"])
def test_internal_coordinates_match_numpy(trajs, selection):
    t = trajs[0]
    ic = InternalCoordinates(selection).fit(t)
    F = ic.transform(t)
    n = len(ic.atom_indices_)
    assert F.shape == (len(t), 4 * n - 9) == (len(t), ic.n_features_out_)
    assert F.dtype == np.float32 and len(ic.get_feature_names_out()) == F.shape[1]
    # Independent geometry: numpy on the selected atoms' coordinates.
    xyz = t.xyz[:, ic.atom_indices_].astype(np.float64)
    Z = ic.zmatrix_
    assert sorted(Z[:, 0]) == list(range(n))  # every atom placed once
    bonded = {frozenset((a.index, b.index)) for a, b in ic.topology_.bonds}
    assert all(frozenset((i, j)) in bonded for i, j, _, _ in Z[1:])
    bonds = np.linalg.norm(xyz[:, Z[1:, 0]] - xyz[:, Z[1:, 1]], axis=-1)
    u = xyz[:, Z[2:, 0]] - xyz[:, Z[2:, 1]]
    v = xyz[:, Z[2:, 2]] - xyz[:, Z[2:, 1]]
    cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    torsions = _dihedral(*(xyz[:, Z[3:, c]] for c in (3, 2, 1, 0)))
    nb, na = n - 1, n - 2
    np.testing.assert_allclose(F[:, :nb], bonds, atol=1e-6)
    np.testing.assert_allclose(F[:, nb : nb + na], np.arccos(cos), atol=1e-4)
    np.testing.assert_allclose(F[:, nb + na :: 2], np.sin(torsions), atol=1e-4)
    np.testing.assert_allclose(F[:, nb + na + 1 :: 2], np.cos(torsions), atol=1e-4)


@pytest.mark.parametrize("selection", [HEAVY, "all"])
def test_internal_coordinates_rebuild_the_structures(trajs, selection):
    t = trajs[0]
    before = t.xyz.copy()
    ic = InternalCoordinates(selection, reference=trajs[1][7]).fit(trajs)
    F = ic.transform(trajs)
    back = ic.inverse_transform(F)
    assert isinstance(back, list) and back[0].topology == ic.topology_
    np.testing.assert_array_equal(t.xyz, before)  # the user's trajectory is untouched
    # The rebuilt frames have the coordinates they were built from ...
    sliced = InternalCoordinates("all").fit(back[0])
    np.testing.assert_allclose(sliced.transform(back[0]), F[0], atol=1e-5)
    # ... and are the original frames superposed onto the reference. mdtraj
    # superposes in float32: superposing twice moves atoms by ~1e-4 nm (0.001 Å).
    original = _superposed(t.atom_slice(ic.atom_indices_), ic.reference_)
    np.testing.assert_allclose(back[0].xyz, original.xyz, atol=5e-4)
    # Rigid motion changes nothing.
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    moved = md.Trajectory(t.xyz @ q.T.astype(np.float32) - 2.0, t.topology)
    np.testing.assert_allclose(ic.transform(moved), F[0], atol=2e-5)


def test_internal_coordinates_rebuild_any_decoded_values(trajs):
    """Whatever a decoder returns, the rebuilt frames have those bond lengths,
    angles in [0, pi] and the torsions atan2(sin, cos)."""
    heavy = trajs[0].atom_slice(trajs[0].topology.select(HEAVY))
    ic = InternalCoordinates("all").fit(heavy)
    rng = np.random.default_rng(3)
    n_frames, n = 50, len(ic.atom_indices_)
    nb, na, nt = n - 1, n - 2, n - 3
    bonds = rng.uniform(0.1, 0.2, (n_frames, nb))
    angles = rng.uniform(1.2, 2.6, (n_frames, na))
    torsions = rng.uniform(-np.pi, np.pi, (n_frames, nt))
    radius = rng.uniform(0.2, 3.0, (n_frames, nt))  # off the unit circle
    X = np.empty((n_frames, ic.n_features_out_))
    X[:, :nb], X[:, nb : nb + na] = bonds, angles
    X[:, nb + na :: 2] = radius * np.sin(torsions)
    X[:, nb + na + 1 :: 2] = radius * np.cos(torsions)
    # An angle beyond pi is read as pi.
    X[0, nb] = 3.5
    F = ic.transform(ic.inverse_transform(X))
    angles[0, 0] = np.pi
    np.testing.assert_allclose(F[:, :nb], bonds, atol=1e-5)
    np.testing.assert_allclose(F[1:, nb : nb + na], angles[1:], atol=1e-5)
    # mdtraj's float32 arccos resolves a straight angle to ~sqrt(1e-7) only.
    np.testing.assert_allclose(F[0, nb : nb + na], angles[0], atol=1e-3)
    back = np.arctan2(F[:, nb + na :: 2], F[:, nb + na + 1 :: 2])
    # (A straight angle leaves the torsions that refer to it undefined: frame 0.)
    turn = np.angle(np.exp(1j * (back - torsions)))[1:]
    np.testing.assert_allclose(turn, 0, atol=1e-5)


def test_internal_coordinates_errors(trajs):
    t = trajs[0]
    with pytest.raises(
        ValueError,
        match="selection=.* does not select one bonded molecule.*AlignedCoordinates",
    ):
        InternalCoordinates("name CH3 or name CA or name CB").fit(t)
    with pytest.raises(ValueError, match="matches 2 atom.*at least 3 bonded"):
        InternalCoordinates("name CA or name CB").fit(t)
    with pytest.raises(ValueError, match="selection='name CZ' matches no atom"):
        InternalCoordinates("name CZ").fit(t)
    ic = InternalCoordinates(HEAVY).fit(t)
    F = ic.transform(t)
    with pytest.raises(ValueError, match=r"X has 30 columns; expected 31"):
        ic.inverse_transform(F[:, :30])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ic.inverse_transform(np.full((2, 31), np.nan))
    with pytest.raises(ValueError, match="X has 10 atoms.*fitted on a topology"):
        ic.transform(t.atom_slice(t.topology.select(HEAVY)))


# --- errors ------------------------------------------------------------------------


def test_error_selection_matches_nothing(trajs):
    with pytest.raises(ValueError, match="selection='name CZ' matches no atom"):
        AlignedCoordinates("name CZ").fit(trajs)
    with pytest.raises(ValueError, match="selection='name CZ' matches no atom"):
        DistanceFeaturizer("name CZ").fit(trajs)
    with pytest.raises(ValueError, match="is not a valid mdtraj selection"):
        AlignedCoordinates("name CA and and").fit(trajs)
    with pytest.raises(ValueError, match="matches 1 atom.*no pair"):
        DistanceFeaturizer("name CA").fit(trajs)  # alanine dipeptide has one Cα
    with pytest.raises(TypeError, match="selection must be an mdtraj selection"):
        AlignedCoordinates(3).fit(trajs)


def test_error_non_trajectory_input(trajs):
    with pytest.raises(TypeError, match="X must be an mdtraj.Trajectory.*ndarray"):
        TorsionFeaturizer().fit(trajs[0].xyz)
    with pytest.raises(TypeError, match=r"X\[1\] must be an mdtraj.Trajectory"):
        DistanceFeaturizer(HEAVY).fit([trajs[0], "traj.dcd"])
    with pytest.raises(ValueError, match="X is an empty list"):
        AlignedCoordinates(HEAVY).fit([])
    with pytest.raises(TypeError, match="reference must be an mdtraj.Trajectory"):
        AlignedCoordinates(HEAVY, reference=trajs[0].xyz[0]).fit(trajs)


def test_error_topology_does_not_fit(trajs):
    t = trajs[0]
    aligned = AlignedCoordinates(HEAVY).fit(t)
    heavy_only = t.atom_slice(t.topology.select(HEAVY))
    with pytest.raises(
        ValueError, match="X has 10 atoms.*fitted on a topology with 22"
    ):
        aligned.transform(heavy_only)
    with pytest.raises(ValueError, match=r"X\[1\] has 10 atoms"):
        TorsionFeaturizer().fit([t, heavy_only])
    X = aligned.transform(t)
    with pytest.raises(ValueError, match=r"X has 27 columns.*10 atoms.*30 columns"):
        aligned.inverse_transform(X[:, :27])
    with pytest.raises(ValueError, match=r"X has 30 columns.*22 atoms"):
        to_trajectory(X, t.topology)
    with pytest.raises(TypeError, match="topology must be an mdtraj.Topology"):
        to_trajectory(X, "protein.pdb")
    with pytest.raises(ValueError, match="reference has 5 atoms"):
        AlignedCoordinates(HEAVY, reference=t[0].atom_slice(range(5))).fit(t)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        aligned.inverse_transform(np.full((2, 30), np.nan))


def test_error_torsion_options(trajs):
    with pytest.raises(ValueError, match="angles must be a tuple of"):
        TorsionFeaturizer(angles=("phi", "theta")).fit(trajs)
    with pytest.raises(ValueError, match="X has none of the torsions"):
        TorsionFeaturizer(angles=("chi1",)).fit(trajs)


# --- the decoder on a real molecule --------------------------------------------------


def _latent(trajs, lagtime=5):
    """ψ: TICA (deeptime) of the sin/cos backbone torsions, 2 components."""
    from deeptime.decomposition import TICA

    feats = TorsionFeaturizer(angles=("phi", "psi")).fit_transform(trajs)
    feats = [f.astype(np.float64) for f in feats]
    tica = TICA(lagtime=lagtime, dim=2).fit(feats).fetch_model()
    return [tica.transform(f) for f in feats]


def _heavy_bonds(topology):
    return np.array(
        [
            (a.index, b.index)
            for a, b in topology.bonds
            if a.element.symbol != "H" and b.element.symbol != "H"
        ]
    )


def _validate_decoder(trajs, decoder_params, n_regions):
    """Fit the decoder on (ψ, aligned heavy atoms); compare decoded with MD."""
    from sklss import CWGANDecoder

    Z = _latent(trajs)
    aligned = AlignedCoordinates(HEAVY).fit(trajs)
    X = aligned.transform(trajs)
    decoder = CWGANDecoder(**decoder_params).fit(Z, X)
    decoded = aligned.inverse_transform(decoder.sample(Z, random_state=0))
    md_traj = aligned.inverse_transform(X)
    decoded = md.join(decoded)
    md_traj = md.join(md_traj)
    psi1 = np.concatenate(Z)[:, 0]

    bonds = _heavy_bonds(aligned.topology_)
    bond_md = md.compute_distances(md_traj, bonds).mean(axis=0)
    bond_dec = md.compute_distances(decoded, bonds).mean(axis=0)
    edges = np.quantile(psi1, np.linspace(0, 1, n_regions + 1))
    region = np.clip(np.searchsorted(edges, psi1, side="right") - 1, 0, n_regions - 1)
    ref = aligned.reference_
    rows = []
    for r in range(n_regions):
        sel = np.flatnonzero(region == r)
        rows.append(
            dict(
                rmsd_md=md.rmsd(md_traj[sel], ref[0]).mean(),
                rmsd_dec=md.rmsd(decoded[sel], ref[0]).mean(),
                rg_md=md.compute_rg(md_traj[sel]).mean(),
                rg_dec=md.compute_rg(decoded[sel]).mean(),
            )
        )
    return bond_md, bond_dec, rows


def _check_structures(alanine_md, n_frames, max_epochs):
    trajs = [alanine_md(n_frames, seed=s) for s in (10, 11)]
    bond_md, bond_dec, rows = _validate_decoder(
        trajs,
        dict(
            noise_dim=16,
            hidden_layer_sizes=(128, 128, 128),
            learning_rate_init=3e-4,
            batch_size=256,
            max_epochs=max_epochs,
            random_state=0,
        ),
        n_regions=3,
    )
    rel = np.abs(bond_dec / bond_md - 1)
    report = dict(bond_rel_err=rel, regions=rows)
    # Heavy-atom bond lengths (C-C, C-N, C=O; 0.12-0.15 nm) within 3 %.
    assert np.all(rel < 0.03), report
    for row in rows:
        # Per latent region: mean RMSD to the reference within 0.01 nm (the
        # regions' MD means differ by 0.013 nm and more) and mean radius of
        # gyration within 0.005 nm (2 %) of the MD frames there.
        assert abs(row["rmsd_dec"] - row["rmsd_md"]) < 0.01, report
        assert abs(row["rg_dec"] - row["rg_md"]) < 0.005, report


def test_decoder_reproduces_alanine_dipeptide_structures_fast(alanine_md):
    # 2 x 2.5 ns of MD (~10 s) and 2000 critic updates (~10 s).
    _check_structures(alanine_md, 2500, max_epochs=100)


@pytest.mark.slow
def test_decoder_reproduces_alanine_dipeptide_structures(alanine_md):
    # 2 x 10 ns of MD (~40 s) and 4700 critic updates (~30 s).
    _check_structures(alanine_md, 10000, max_epochs=60)
