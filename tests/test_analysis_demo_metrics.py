"""Metrics and figures of the demo's report, against independent computations:
bond lengths, metastable cores of a free-energy profile, training curves."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mdtraj as md  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.utils import Bunch  # noqa: E402

from sklss.analysis import (  # noqa: E402
    compare_bond_lengths,
    count_transitions,
    free_energy_profile,
    metastable_cores,
)
from sklss.plotting import plot_bond_lengths, plot_training_history  # noqa: E402


def chain(n_frames, bond, seed):
    """A bonded four-atom chain with noisy bond lengths around ``bond`` (nm)."""
    top = md.Topology()
    residue = top.add_residue("ALA", top.add_chain(), resSeq=1)
    atoms = [top.add_atom(n, md.element.carbon, residue) for n in "ABCD"]
    for a, b in zip(atoms[:-1], atoms[1:], strict=True):
        top.add_bond(a, b)
    rng = np.random.default_rng(seed)
    steps = rng.normal(size=(n_frames, 3, 3))
    steps *= (bond + 0.002 * rng.normal(size=(n_frames, 3, 1))) / np.linalg.norm(
        steps, axis=2, keepdims=True
    )
    xyz = np.concatenate([np.zeros((n_frames, 1, 3)), np.cumsum(steps, axis=1)], 1)
    return md.Trajectory(xyz.astype(np.float32), top)


def test_bond_lengths_against_numpy_distances():
    ref = chain(200, 0.15, seed=0)
    gen = [chain(50, 0.153, seed=1), chain(70, 0.153, seed=2)]
    result = compare_bond_lengths(ref, gen)

    pairs = np.array([[0, 1], [1, 2], [2, 3]])
    np.testing.assert_array_equal(result.atom_pairs, pairs)
    assert result.labels == ["ALA1-A-ALA1-B", "ALA1-B-ALA1-C", "ALA1-C-ALA1-D"]
    d_ref = np.linalg.norm(ref.xyz[:, pairs[:, 0]] - ref.xyz[:, pairs[:, 1]], axis=2)
    xyz = np.concatenate([t.xyz for t in gen])
    d_gen = np.linalg.norm(xyz[:, pairs[:, 0]] - xyz[:, pairs[:, 1]], axis=2)
    np.testing.assert_allclose(result.reference_mean, d_ref.mean(0), rtol=1e-5)
    np.testing.assert_allclose(result.generated_mean, d_gen.mean(0), rtol=1e-5)
    np.testing.assert_allclose(result.reference_std, d_ref.std(0), rtol=1e-3)
    np.testing.assert_allclose(result.generated_std, d_gen.std(0), rtol=1e-3)
    expected = np.abs(d_gen.mean(0) / d_ref.mean(0) - 1)
    np.testing.assert_allclose(result.relative_error, expected, rtol=1e-4)
    assert result.max_relative_error == pytest.approx(expected.max(), rel=1e-4)
    assert result.max_relative_error == pytest.approx(0.02, abs=0.005)

    # Explicit pairs, e.g. a non-bonded distance.
    one = compare_bond_lengths(ref, gen, atom_pairs=[[0, 3]])
    d = np.linalg.norm(ref.xyz[:, 0] - ref.xyz[:, 3], axis=1)
    np.testing.assert_allclose(one.reference_mean, [d.mean()], rtol=1e-5)


def test_bond_lengths_bad_input():
    ref = chain(10, 0.15, seed=0)
    with pytest.raises(ValueError, match="same atoms"):
        compare_bond_lengths(ref, ref.atom_slice([0, 1, 2]))
    with pytest.raises(ValueError, match="atom_pairs must index"):
        compare_bond_lengths(ref, ref, atom_pairs=[[0, 7]])
    with pytest.raises(ValueError, match="shape"):
        compare_bond_lengths(ref, ref, atom_pairs=[0, 1])
    with pytest.raises(TypeError, match="mdtraj.Trajectory"):
        compare_bond_lengths(ref.xyz, ref)
    top = md.Topology()
    residue = top.add_residue("ALA", top.add_chain())
    for name in "ABCD":
        top.add_atom(name, md.element.carbon, residue)
    unbonded = md.Trajectory(ref.xyz, top)
    with pytest.raises(ValueError, match="no bonds"):
        compare_bond_lengths(unbonded, unbonded)


def profile(free_energy, edges=None):
    f = np.asarray(free_energy, dtype=float)
    if edges is None:
        edges = np.arange(len(f) + 1, dtype=float)
    return Bunch(free_energy=f, bin_edges=np.asarray(edges, dtype=float))


def test_metastable_cores_of_a_known_profile():
    #        0    1    2    3    4    5    6    7    8    9
    f = [3.0, 0.5, 0.0, 0.8, 4.0, 2.0, 1.2, 1.5, 2.5, np.nan]
    # Minimum 0 at bin 2: bins within 1 kT are 1..3. Next minimum 1.2 at bin 6:
    # bins within 2.2 are 5..7 (bin 8 at 2.5 is above). The NaN bin is empty.
    assert metastable_cores(profile(f)) == [(1.0, 4.0), (5.0, 8.0)]
    assert metastable_cores(profile(f), n_cores=1) == [(1.0, 4.0)]
    assert metastable_cores(profile(f), max_free_energy=0.6) == [(1.0, 3.0), (6.0, 8.0)]
    assert metastable_cores(profile(f), max_free_energy=0.2) == [(2.0, 3.0), (6.0, 7.0)]
    # A deeper threshold merges everything into one well: no second core.
    assert metastable_cores(profile(f), max_free_energy=5.0) == [(0.0, 9.0)]


def test_metastable_cores_of_a_sampled_double_well():
    """Two Gaussian wells (sd 0.2): F <= F_min + 1 kT within sd * sqrt(2) of each
    centre, so each core spans about +-0.28 around -1 and +1."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-1, 0.2, 100_000), rng.normal(1, 0.2, 50_000)])
    result = free_energy_profile(x[:, None], bins=80, range=(-2, 2))
    cores = metastable_cores(result)
    width = 0.2 * np.sqrt(2)
    bin_width = 0.05
    for (lo, hi), centre in zip(cores, (-1, 1), strict=True):
        assert lo == pytest.approx(centre - width, abs=2 * bin_width)
        assert hi == pytest.approx(centre + width, abs=2 * bin_width)
    # The cores are what count_transitions needs: disjoint intervals.
    x_traj = np.repeat([-1.0, 1.0, -1.0], 10)[:, None]
    assert count_transitions(x_traj, cores).n_transitions == 2


def test_metastable_cores_bad_input():
    with pytest.raises(ValueError, match="n_cores"):
        metastable_cores(profile([1.0, 0.0]), n_cores=0)
    with pytest.raises(ValueError, match="max_free_energy"):
        metastable_cores(profile([1.0, 0.0]), max_free_energy=0)
    with pytest.raises(ValueError, match="bin_edges"):
        metastable_cores(profile([1.0, 0.0], edges=[0.0, 1.0]))


def test_plot_training_history_draws_the_recorded_keys():
    est = Bunch(
        history_=[
            {"epoch": 1, "loss": 3.0, "val_loss": None},
            {"epoch": 2, "loss": 2.0, "val_loss": 2.5},
            {"epoch": 3, "loss": 1.0, "val_loss": 1.5},
        ]
    )
    ax = plot_training_history(est, keys=("loss", "val_loss", "wasserstein"))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"loss", "val_loss"}  # nothing recorded for wasserstein
    np.testing.assert_array_equal(lines["loss"].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(lines["val_loss"].get_ydata(), [np.nan, 2.5, 1.5])
    plt.close(ax.figure)
    with pytest.raises(TypeError, match="history_"):
        plot_training_history(object())


def test_plot_bond_lengths():
    ref = chain(20, 0.15, seed=0)
    result = compare_bond_lengths(ref, chain(20, 0.16, seed=1))
    ax = plot_bond_lengths(result, labels=("MD", "LSS"))
    assert [t.get_text() for t in ax.get_xticklabels()] == result.labels
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["MD", "LSS"]
    plt.close(ax.figure)
