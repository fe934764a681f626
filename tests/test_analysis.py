"""Validation metrics against independent computations (numpy, scipy, analytics)."""

import subprocess
import sys

import mdtraj as md
import numpy as np
import pytest

from sklss import analysis


# ------------------------------------------------------------ free-energy profile
def test_free_energy_profile_matches_analytic_density():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400_000, 1))
    profile = analysis.free_energy_profile(x, bins=40, range=(-4, 4))
    analytic = profile.bin_centers**2 / 2  # -ln of the standard normal + constant
    inner = np.abs(profile.bin_centers) < 2.5
    result = analysis.profile_rmse(analytic[inner], profile.free_energy[inner])
    assert result.rmse < 0.03
    assert np.nanmin(profile.free_energy) == 0.0
    counts, _ = np.histogram(x[:, 0], bins=40, range=(-4, 4))
    np.testing.assert_array_equal(profile.counts, counts)


def test_free_energy_profile_block_errors_match_numpy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(10_003, 1))
    profile = analysis.free_energy_profile(x, bins=15, range=(-3, 3), n_blocks=5)
    size = len(x) // 5
    blocks = []
    for k in range(5):
        c, _ = np.histogram(x[k * size : (k + 1) * size, 0], bins=15, range=(-3, 3))
        with np.errstate(divide="ignore"):
            blocks.append(-np.log(c / c.sum()))
    blocks = np.array(blocks)
    expected = blocks.std(axis=0, ddof=1) / np.sqrt(5)
    expected[~np.all(np.isfinite(blocks), axis=0)] = np.nan
    np.testing.assert_allclose(profile.standard_error, expected, equal_nan=True)
    # For independent samples the error of -ln p in a bin is sqrt((1 - p) / count).
    ok = profile.counts > 200
    poisson = np.sqrt((1 - profile.counts / len(x)) / profile.counts)
    ratio = np.mean(profile.standard_error[ok] / poisson[ok])
    assert 0.7 < ratio < 1.3


def test_free_energy_profile_lists_blocks_and_column():
    rng = np.random.default_rng(2)
    trajs = [rng.normal(size=(n, 3)) for n in (100, 250, 50)]
    profile = analysis.free_energy_profile(trajs, coordinate=2, bins=10, range=(-3, 3))
    counts, _ = np.histogram(np.concatenate(trajs)[:, 2], bins=10, range=(-3, 3))
    np.testing.assert_array_equal(profile.counts, counts)
    with pytest.raises(ValueError, match="coordinate"):
        analysis.free_energy_profile(trajs, coordinate=3)
    with pytest.raises(ValueError, match="n_blocks"):
        analysis.free_energy_profile(trajs, n_blocks=1)
    with pytest.raises(ValueError, match="n_blocks"):
        analysis.free_energy_profile(np.zeros((4, 1)), n_blocks=5)


def test_profile_rmse_hand_computation():
    f_ref = np.array([0.0, 1.0, 2.0, np.nan, 5.0])
    f_other = np.array([1.0, 2.5, 2.5, 0.0, np.nan])
    result = analysis.profile_rmse(f_ref, f_other)
    # Common bins 0..2: differences (-1, -1.5, -0.5), shift -1, residuals (0, -.5, .5).
    assert result.shift == pytest.approx(-1.0)
    assert result.rmse == pytest.approx(np.sqrt(0.5 / 3))
    assert result.n_bins == 3
    capped = analysis.profile_rmse(f_ref, f_other, max_free_energy=1.5)
    assert capped.n_bins == 2
    assert capped.rmse == pytest.approx(0.25)
    with pytest.raises(ValueError, match="same bins"):
        analysis.profile_rmse(f_ref, f_other[:3])
    with pytest.raises(ValueError, match="no populated bin"):
        analysis.profile_rmse([np.nan, 1.0], [1.0, np.nan])


# --------------------------------------------------------------------------- TICA
def test_tica_comparison_finds_slow_coordinate_and_compares(ar1):
    rng = np.random.default_rng(7)
    sources = np.hstack([ar1(30_000, 0.95, rng), ar1(30_000, 0.2, rng)])
    mixing = np.array([[1.0, 0.6], [-0.4, 1.0]])
    reference = sources @ mixing
    same = (np.hstack([ar1(30_000, 0.95, rng), ar1(30_000, 0.2, rng)])) @ mixing
    result = analysis.tica_comparison(reference, same, lagtime=5, bins=20)
    tic1 = result.reference_projection[:, 0]
    assert abs(np.corrcoef(tic1, sources[:, 0])[0, 1]) > 0.99
    assert result.reference_projection.shape == (30_000, 2)
    assert result.rmse.rmse < 0.3  # sampling noise of bins with >= 20 samples
    assert result.n_missing_bins == 0
    # A generated ensemble confined to one side of the slow source misses bins,
    # one with a too narrow slow coordinate has the wrong free energies.
    half = same[np.linalg.solve(mixing.T, same.T)[0] > 0]
    missing = analysis.tica_comparison(reference, half, lagtime=5, bins=20)
    assert missing.n_missing_bins > 20
    narrow = (sources * [0.7, 1.0]) @ mixing
    worse = analysis.tica_comparison(reference, narrow, lagtime=5, bins=20)
    assert worse.rmse.rmse > 3 * result.rmse.rmse
    listed = analysis.tica_comparison([reference], [same, same], lagtime=5)
    assert isinstance(listed.generated_projection, list)
    with pytest.raises(ValueError, match="same features"):
        analysis.tica_comparison(reference, same[:, :1], lagtime=5)


# ------------------------------------------------------------------- structures
def _random_trajectory(rng, n_frames=20, n_atoms=6):
    top = md.Topology()
    chain = top.add_chain()
    res = top.add_residue("ALA", chain)
    for i in range(n_atoms):
        top.add_atom(f"C{i}", md.element.carbon, res)
    xyz = rng.normal(scale=0.5, size=(n_frames, n_atoms, 3)).astype(np.float32)
    return md.Trajectory(xyz, top)


def test_rmsd_and_radius_of_gyration_match_numpy(kabsch_rmsd):
    rng = np.random.default_rng(8)
    traj = _random_trajectory(rng)
    reference = _random_trajectory(rng, n_frames=1)
    rmsd = analysis.rmsd_to_reference(traj, reference)
    expected = [kabsch_rmsd(x, reference.xyz[0]) for x in traj.xyz.astype(float)]
    np.testing.assert_allclose(rmsd, expected, atol=1e-5)
    idx = [0, 2, 3, 5]
    sub = analysis.rmsd_to_reference(traj, reference, atom_indices=idx)
    expected = [kabsch_rmsd(x[idx], reference.xyz[0][idx]) for x in traj.xyz]
    np.testing.assert_allclose(sub, expected, atol=1e-5)

    rg = analysis.radius_of_gyration([traj, traj[:5]], atom_indices=idx)
    x = traj.xyz[:, idx].astype(float)
    expected = np.sqrt(np.mean(np.sum((x - x.mean(axis=1, keepdims=True)) ** 2, 2), 1))
    np.testing.assert_allclose(rg[0], expected, rtol=1e-5)
    assert len(rg[1]) == 5
    with pytest.raises(TypeError, match="mdtraj.Trajectory"):
        analysis.radius_of_gyration(traj.xyz)
    with pytest.raises(ValueError, match="atoms"):
        analysis.rmsd_to_reference(traj, reference.atom_slice([0, 1]))


def test_block_average_matches_numpy():
    rng = np.random.default_rng(9)
    values = [rng.normal(size=33), rng.normal(size=70)]
    result = analysis.block_average(values, n_blocks=5)
    joined = np.concatenate(values)
    means = joined[:100].reshape(5, 20).mean(axis=1)
    np.testing.assert_allclose(result.block_means, means)
    assert result.standard_error == pytest.approx(means.std(ddof=1) / np.sqrt(5))
    assert result.mean == pytest.approx(joined.mean())


# --------------------------------------------------------------------- transitions
def _naive_transitions(sequence, cores):
    """Independent state machine: the last core visited, transitions on change."""
    counts = np.zeros((len(cores), len(cores)), dtype=int)
    last = None
    for value in sequence:
        for i, (lo, hi) in enumerate(cores):
            if lo <= value <= hi:
                if last is not None and last != i:
                    counts[last, i] += 1
                last = i
    return counts


def test_count_transitions_constructed_sequence():
    cores = [(-1.0, 0.2), (0.8, 2.0)]
    # Boundary noise around 0.2 and an excursion returning to core 0 do not count.
    x = np.array([0.5, 0.0, 0.19, 0.21, 0.19, 0.21, 0.6, 0.1, 0.9, 0.79, 0.81, 0.5,
                  0.0])[:, None]  # fmt: skip
    result = analysis.count_transitions(x, cores)
    assert result.n_transitions == 2
    np.testing.assert_array_equal(result.counts, [[0, 1], [1, 0]])
    assert result.core_trajectories[0] == -1
    assert result.core_trajectories[-2] == 1
    # Trajectory boundaries are not transitions.
    split = analysis.count_transitions([x[:5], x[8:11]], cores)
    assert split.n_transitions == 0


def test_count_transitions_matches_naive_loop():
    rng = np.random.default_rng(10)
    cores = [(-5.0, -1.0), (-0.2, 0.2), (1.0, 5.0)]
    x = np.cumsum(rng.normal(scale=0.3, size=2000))
    x = np.clip(x - x.mean(), -4, 4)
    result = analysis.count_transitions(x[:, None], cores)
    np.testing.assert_array_equal(result.counts, _naive_transitions(x, cores))
    assert result.n_transitions > 5


def test_count_transitions_box_cores_and_errors():
    # Two 2-D cores, the second one a union of two boxes.
    cores = [[(0, 1), (0, 1)], [[(2, 3), (0, 1)], [(2, 3), (5, 6)]]]
    x = np.array([[0.5, 0.5], [2.5, 5.5], [1.5, 3.0], [2.5, 0.5], [0.5, 0.5]])
    result = analysis.count_transitions(x, cores)
    np.testing.assert_array_equal(result.counts, [[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="at least two"):
        analysis.count_transitions(x, [[(0, 1), (0, 1)]])
    with pytest.raises(ValueError, match=r"cores\[0\]"):
        analysis.count_transitions(x, [(0, 1), (2, 3)])
    with pytest.raises(ValueError, match="low >= high"):
        analysis.count_transitions(x, [[(1, 0), (0, 1)], [(2, 3), (0, 1)]])
    with pytest.raises(ValueError, match="overlap"):
        analysis.count_transitions(x, [[(0, 3), (0, 1)], [(2, 3), (0, 1)]])


# -------------------------------------------------------------------- Ramachandran
def _basin_samples(rng, n, centers, weights, scale=0.3):
    which = rng.choice(len(centers), size=n, p=weights)
    x = np.array(centers)[which] + rng.normal(scale=scale, size=(n, 2))
    return (x + np.pi) % (2 * np.pi) - np.pi


CENTERS = [(-1.4, 2.8), (-1.3, -0.7), (1.0, 0.6)]  # β (wraps past ψ=π), αR, αL


def test_ramachandran_free_energy_matches_histogram2d():
    rng = np.random.default_rng(11)
    angles = _basin_samples(rng, 20_000, CENTERS, [0.5, 0.4, 0.1])
    surface = analysis.ramachandran_free_energy(angles, bins=24)
    edges = np.linspace(-np.pi, np.pi, 25)
    h, _, _ = np.histogram2d(angles[:, 0], angles[:, 1], bins=[edges, edges])
    with np.errstate(divide="ignore"):
        expected = -np.log(h / h.sum())
    expected[h == 0] = np.nan
    expected -= np.nanmin(expected)
    np.testing.assert_allclose(surface.free_energy, expected, equal_nan=True)
    np.testing.assert_array_equal(surface.counts, h)


def test_compare_ramachandran_rmse_and_missing_basin():
    rng = np.random.default_rng(12)
    reference = _basin_samples(rng, 40_000, CENTERS, [0.5, 0.4, 0.1])
    generated = _basin_samples(rng, 80_000, CENTERS, [0.5, 0.4, 0.1])
    result = analysis.compare_ramachandran(reference, generated, bins=36)
    # Hand computation over bins with >= 20 reference counts.
    edges = np.linspace(-np.pi, np.pi, 37)
    h_ref, _, _ = np.histogram2d(*reference.T, bins=[edges, edges])
    h_gen, _, _ = np.histogram2d(*generated.T, bins=[edges, edges])
    mask = (h_ref >= 20) & (h_gen > 0)
    diff = np.log(h_gen[mask] / h_gen.sum()) - np.log(h_ref[mask] / h_ref.sum())
    assert result.rmse == pytest.approx(diff.std())
    assert result.n_bins == mask.sum()
    assert result.rmse < 0.3
    # Three basins; the β basin wraps around ψ = ±π and is still one basin.
    assert len(result.basin_population_reference) == 3
    assert result.missing_basins.size == 0
    np.testing.assert_allclose(
        np.sort(result.basin_population_reference), [0.1, 0.4, 0.5], atol=0.05
    )

    no_alpha_l = _basin_samples(rng, 80_000, CENTERS[:2], [0.55, 0.45])
    missing = analysis.compare_ramachandran(reference, no_alpha_l, bins=36)
    assert missing.missing_basins.size == 1
    lost = missing.missing_basins[0]
    alpha_l = np.digitize(CENTERS[2], edges) - 1
    assert missing.basins[tuple(alpha_l)] == lost
    region = missing.basins == lost
    assert missing.basin_population_reference[lost] == pytest.approx(
        h_ref[region].sum() / h_ref.sum()
    )
    assert missing.basin_population_generated[lost] == 0
    assert missing.n_missing_bins > 0
    with pytest.raises(ValueError, match="two columns"):
        analysis.compare_ramachandran(np.zeros((10, 3)), generated)


def test_backbone_torsions_of_alanine_dipeptide():
    from importlib.resources import files

    traj = md.load(str(files("sklss.datasets") / "data" / "alanine-dipeptide.pdb"))
    angles = analysis.backbone_torsions(traj)
    np.testing.assert_allclose(angles[:, 0], md.compute_phi(traj)[1][:, 0])
    np.testing.assert_allclose(angles[:, 1], md.compute_psi(traj)[1][:, 0])
    surface = analysis.ramachandran_free_energy([traj, traj])
    assert surface.counts.sum() == 2


# ---------------------------------------------------------------------- public API
def test_public_names_and_moved_plot_functions():
    import sklss.plotting

    for name in analysis.__all__:
        assert callable(getattr(analysis, name))
        assert getattr(analysis, name).__module__.startswith("sklss.analysis._")
    assert not set(sklss.plotting.__all__) & set(analysis.__all__)
    former = [
        "plot_free_energy_profile",
        "plot_autocorrelation",
        "plot_tica_comparison",
        "plot_distributions",
        "plot_transitions",
        "plot_ramachandran",
    ]
    for name in former:  # the plots that sklss.analysis had, still there one release
        with pytest.warns(FutureWarning, match="moved to sklss.plotting"):
            alias = getattr(analysis, name)
        assert alias is getattr(sklss.plotting, name)
    with pytest.warns(FutureWarning, match="moved to sklss.plotting"):
        from sklss.analysis import plot_ramachandran
    assert plot_ramachandran is sklss.plotting.plot_ramachandran
    with pytest.raises(AttributeError, match="plot_nothing"):
        analysis.plot_nothing  # noqa: B018


def test_importing_analysis_does_not_import_matplotlib():
    code = (
        "import sys, sklss.analysis, sklss.plotting; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
