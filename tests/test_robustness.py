"""Adversarial inputs: user data untouched, named errors, reproducible cached data."""

import threading
import warnings

import mdtraj as md
import numpy as np
import pytest
import torch

from sklss import analysis
from sklss._data import (
    check_bin_edges,
    check_bins,
    check_int,
    check_random_state_named,
    check_real,
    check_trajectories,
)
from sklss._molecules import (
    AlignedCoordinates,
    DistanceFeaturizer,
    TorsionFeaturizer,
    to_trajectory,
)
from sklss.datasets import (
    compare_four_well,
    four_well_bin_probabilities,
    four_well_boltzmann_density,
    four_well_potential,
    four_well_transition_matrix,
    make_four_well,
    make_metastable_hmm,
    make_swissroll,
)
from sklss.model_selection import select_dimension, select_lagtime, split_trajectory


def _chain(n_frames=6, n_atoms=4, seed=0):
    top = md.Topology()
    chain = top.add_chain()
    for _ in range(n_atoms):
        top.add_atom("CA", md.element.carbon, top.add_residue("ALA", chain))
    xyz = np.random.default_rng(seed).normal(size=(n_frames, n_atoms, 3)) + 3.0
    return md.Trajectory(xyz.astype(np.float32), top)


# --- user data are never modified -------------------------------------------------


def test_rmsd_to_reference_leaves_inputs_untouched():
    traj, ref = _chain(), _chain(1, seed=1)
    before, ref_before = traj.xyz.copy(), ref.xyz.copy()
    analysis.rmsd_to_reference(traj, ref)
    analysis.rmsd_to_reference([traj, traj], ref, atom_indices=[0, 1, 2])
    np.testing.assert_array_equal(traj.xyz, before)
    np.testing.assert_array_equal(ref.xyz, ref_before)


def test_aligned_coordinates_leaves_trajectories_untouched():
    traj, ref = _chain(), _chain(1, seed=1)
    before, ref_before = traj.xyz.copy(), ref.xyz.copy()
    aligned = AlignedCoordinates(reference=ref).fit(traj)
    fitted_ref = aligned.reference_.xyz.copy()
    aligned.transform([traj, traj])
    np.testing.assert_array_equal(traj.xyz, before)
    np.testing.assert_array_equal(ref.xyz, ref_before)
    np.testing.assert_array_equal(aligned.reference_.xyz, fitted_ref)


def test_tica_comparison_keeps_flags_of_an_array_given_twice():
    X = np.random.default_rng(0).normal(size=(300, 3))
    before = X.copy()
    analysis.tica_comparison([X, X], X, 1, bins=5)
    assert X.flags.writeable
    np.testing.assert_array_equal(X, before)


# --- bool is not an int -----------------------------------------------------------


def test_check_int_refuses_bool():
    for value in (True, np.True_):
        with pytest.raises(TypeError, match="n must be an int"):
            check_int(value, "n")


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: make_metastable_hmm(n_frames=True), "n_frames"),
        (lambda: make_metastable_hmm(10, n_trajectories=True), "n_trajectories"),
        (lambda: make_metastable_hmm(10, 1, noise=True), "noise"),
        (lambda: make_swissroll(True), "n_frames"),
        (lambda: make_four_well(True), "n_steps"),
        (lambda: make_four_well(10, x0=True), "x0"),
        (lambda: four_well_transition_matrix(True), "n_bins"),
        (lambda: analysis.msm_timescales(np.ones((9, 1)), [0, 1], lagtime=True), "lag"),
        (
            lambda: analysis.tica_comparison(np.ones((9, 2)), np.ones((9, 2)), True),
            "lag",
        ),
        (lambda: analysis.autocorrelation(np.ones((9, 1)), True), "max_lag"),
        (lambda: analysis.block_average(np.arange(9.0), n_blocks=True), "n_blocks"),
        (lambda: split_trajectory(np.ones((9, 1)), True), "n_segments"),
    ],
)
def test_bool_is_not_an_int(call, name):
    with pytest.raises((TypeError, ValueError), match=name):
        call()


# --- sizes are checked before anything is allocated --------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: make_metastable_hmm(10**6, n_trajectories=10**12), "n_trajectories"),
        (lambda: make_swissroll(10**15), "n_frames"),
        (lambda: make_four_well(10**15), "n_steps"),
        (lambda: four_well_transition_matrix(10**8), "n_bins"),
    ],
)
def test_outputs_that_cannot_fit_in_memory_are_refused(call, name):
    with pytest.raises(ValueError, match=rf"{name}=\d+.*\(\d+ bytes\)"):
        call()


# --- constant data and 2-D block averages -----------------------------------------


def test_relaxation_times_of_a_constant_column_are_nan_with_warning():
    x = np.column_stack([np.random.default_rng(0).normal(size=500), np.ones(500)])
    with pytest.warns(UserWarning, match=r"Column\(s\) \[1\] of X are constant"):
        result = analysis.relaxation_times(x, max_lag=5)
    assert np.isfinite(result.timescales[0]) and np.isnan(result.timescales[1])
    with pytest.warns(UserWarning, match="constant"):
        acf = analysis.autocorrelation(np.ones((50, 1)), 3)
    assert acf[0, 0] == 1.0 and np.all(np.isnan(acf[1:]))
    with (
        pytest.warns(FutureWarning),
        pytest.warns(UserWarning, match="constant"),
    ):
        assert np.isnan(analysis.implied_timescales(np.ones((100, 1))).timescales[0])


def test_block_average_works_column_by_column():
    x = np.column_stack([np.arange(10.0), 100 + np.arange(10.0)])
    result = analysis.block_average(x, n_blocks=2)
    np.testing.assert_allclose(result.block_means, [[2.0, 102.0], [7.0, 107.0]])
    np.testing.assert_allclose(result.mean, [4.5, 104.5])
    one = analysis.block_average(x[:, 1], n_blocks=2)
    assert one.mean == result.mean[1] and one.standard_error == result.standard_error[1]


# --- non-finite and empty structures ----------------------------------------------


def test_featurizers_refuse_nan_coordinates_and_empty_trajectories():
    traj = _chain()
    bad = md.Trajectory(traj.xyz.copy(), traj.topology)
    bad.xyz[0, 0, 0] = np.nan
    empty = traj[:0]
    for featurizer in (AlignedCoordinates(), DistanceFeaturizer()):
        with pytest.raises(ValueError, match="X has non-finite coordinates.*frame 0"):
            featurizer.fit(bad)
        with pytest.raises(ValueError, match="X has no frames"):
            featurizer.fit(empty)
        featurizer.fit(traj)
        with pytest.raises(ValueError, match=r"X\[1\] has non-finite"):
            featurizer.transform([traj, bad])
        with pytest.raises(ValueError, match="X has no frames"):
            featurizer.transform(empty)
    with pytest.raises(ValueError, match="X has no frames"):
        TorsionFeaturizer().fit(empty)
    with pytest.raises(ValueError, match="reference has non-finite"):
        AlignedCoordinates(reference=bad).fit(traj)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        to_trajectory(np.full((2, 12), np.nan), traj.topology)
    with pytest.raises(ValueError, match="traj has non-finite"):
        analysis.radius_of_gyration(bad)


# --- inputs of every kind get named errors -----------------------------------------

_BAD = [
    ([[1.0, 2.0], [3.0]], ValueError, "X is a ragged nested sequence"),
    ("abc", TypeError, "X must be an array-like .* got str"),
    (np.array([["a", "b"]]), TypeError, "X has dtype <U1; expected real numbers"),
    (np.array([[object(), 1.0]]), TypeError, "X must hold real numbers"),
    (np.ones((3, 2), dtype=complex), ValueError, "Complex data not supported: X"),
    (np.zeros((0, 2)), ValueError, r"X has no frames: 0 sample\(s\)"),
    (np.zeros((4, 0)), ValueError, r"X has no features: 0 feature\(s\)"),
    (np.zeros(4), ValueError, "X has shape"),
    (np.zeros((2, 3, 4)), ValueError, r"X must be a 2-D array .* \(2, 3, 4\)"),
    (np.array([[np.nan, 1.0]]), ValueError, "Input X contains NaN"),
    (np.array([[1.0], [np.inf]]), ValueError, "Input X contains infinity.*frame 1"),
    (np.ones((3, 2), dtype=bool), TypeError, "X has dtype bool"),
    ([np.ones((3, 2)), np.zeros((0, 2))], ValueError, r"X\[1\] has no frames"),
    (None, TypeError, "got NoneType"),
]


@pytest.mark.parametrize("bad, exc, match", _BAD)
def test_check_trajectories_names_bad_input(bad, exc, match):
    with pytest.raises(exc, match=match):
        check_trajectories(None, bad, reset=True, n_features_attr=None)


@pytest.mark.parametrize(
    "call",
    [
        lambda X: analysis.autocorrelation(X, 2),
        lambda X: analysis.relaxation_times(X),
        lambda X: analysis.free_energy_profile(X),
        lambda X: analysis.assign_cores(X, [(-1, 0), (1, 2)]),
        lambda X: analysis.msm_timescales(X, [0.0, 0.5, 1.0]),
        lambda X: split_trajectory(X, 2),
    ],
)
@pytest.mark.parametrize("bad, exc, match", _BAD[:-1])
def test_public_functions_name_bad_input(call, bad, exc, match):
    with pytest.raises(exc, match=match):
        call(bad)


def test_tensors_with_grad_are_accepted_and_copied():
    t = torch.randn(50, 2, requires_grad=True)
    (arr,) = check_trajectories(None, t, reset=True, n_features_attr=None)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, t.detach().numpy())
    assert not np.shares_memory(arr, t.detach().numpy())
    assert analysis.autocorrelation([t, t], 3).shape == (4, 2)
    assert len(split_trajectory(t, 2)) == 2
    assert analysis.block_average(t[:, 0]).block_means.shape == (5,)


# --- alanine dipeptide: seeds, lock, corrupt cache ---------------------------------


@pytest.fixture
def alanine(monkeypatch):
    pytest.importorskip("openmm")
    from sklss.datasets import _alanine

    # Same physics, short equilibration (cache-keyed): a fraction of a second.
    settings = dict(_alanine._SETTINGS, equilibration_steps=500)
    monkeypatch.setattr(_alanine, "_SETTINGS", settings)
    return _alanine


def test_alanine_random_state_zero_is_reproducible(tmp_path, alanine):
    a = alanine.load_alanine_dipeptide(3, data_home=tmp_path / "a", random_state=0)
    b = alanine.load_alanine_dipeptide(3, data_home=tmp_path / "b", random_state=0)
    np.testing.assert_array_equal(a.xyz, b.xyz)
    assert alanine._openmm_seed(0) != 0
    with pytest.raises(ValueError, match="random_state"):
        alanine.load_alanine_dipeptide(3, data_home=tmp_path, random_state=2**31 - 1)


def _fake_simulate(calls):
    def simulate(n_frames, seed, platform, verbose):
        calls.append(seed)
        threading.Event().wait(0.3)  # long enough for the other caller to queue
        xyz = np.random.default_rng().normal(size=(n_frames, 22, 3))
        return xyz.astype(np.float32), {"platform": platform}

    return simulate


def test_alanine_concurrent_callers_generate_once(tmp_path, alanine, monkeypatch):
    calls = []
    monkeypatch.setattr(alanine, "_simulate", _fake_simulate(calls))
    results = [None, None]

    def load(i):
        results[i] = alanine.load_alanine_dipeptide(4, data_home=tmp_path)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    np.testing.assert_array_equal(results[0].xyz, results[1].xyz)
    files = sorted(p.name for p in (tmp_path / "alanine_dipeptide").iterdir())
    assert [f for f in files if f.endswith(".npz")] == [
        alanine._cache_path(tmp_path, 4, 0).name
    ]
    assert not [f for f in files if ".part" in f]


def test_alanine_corrupt_cache_is_regenerated_or_reported(
    tmp_path, alanine, monkeypatch
):
    calls = []
    monkeypatch.setattr(alanine, "_simulate", _fake_simulate(calls))
    first = alanine.load_alanine_dipeptide(4, data_home=tmp_path)
    path = alanine._cache_path(tmp_path, 4, 0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match=f"{path.name}.*regenerating"):
        again = alanine.load_alanine_dipeptide(4, data_home=tmp_path)
    assert len(calls) == 2 and again.n_frames == 4
    assert not np.array_equal(first.xyz, again.xyz)

    path.write_bytes(b"")
    monkeypatch.setattr(alanine, "_openmm_available", lambda: False)
    with pytest.raises(ValueError, match=f"{path.name}.*force=True"):
        alanine.load_alanine_dipeptide(4, data_home=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        monkeypatch.undo()


# --- hyperparameters, bins and seeds get named errors ------------------------------

_X = np.cumsum(np.random.default_rng(0).normal(size=(200, 3)), axis=0)
_ANGLES = np.random.default_rng(1).uniform(-3, 3, size=(200, 2))


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: TorsionFeaturizer(angles=None).fit(_chain()), TypeError, "angles"),
        (lambda: TorsionFeaturizer(angles="phi").fit(_chain()), TypeError, "angles"),
        (lambda: DistanceFeaturizer(periodic=2).fit(_chain()), TypeError, "periodic"),
        (
            lambda: AlignedCoordinates(selection="resname").fit(_chain()),
            ValueError,
            "selection",
        ),
        (
            lambda: to_trajectory(np.full((2, 12), 1e100), _chain().topology),
            ValueError,
            "X",
        ),
        (lambda: analysis.free_energy_profile(_X, bins=2**31), ValueError, "bins"),
        (lambda: analysis.free_energy_profile(_X, bins=2**63), ValueError, "bins"),
        (lambda: analysis.free_energy_profile(_X, bins=10**100), ValueError, "bins"),
        (lambda: analysis.free_energy_profile(_X, bins=True), TypeError, "bins"),
        (lambda: analysis.free_energy_profile(_X, range=(0, 0)), ValueError, "range"),
        (lambda: analysis.free_energy_profile(_X, range=3), TypeError, "range"),
        (
            lambda: analysis.free_energy_profile(_X, range=(1e3, 2e3)),
            ValueError,
            "range",
        ),
        (
            lambda: analysis.ramachandran_free_energy(_ANGLES, bins=2**31),
            ValueError,
            "bins",
        ),
        (
            lambda: analysis.compare_ramachandran(
                _ANGLES, _ANGLES, basin_cutoff=np.nan
            ),
            ValueError,
            "basin_cutoff",
        ),
        (
            lambda: analysis.compare_ramachandran(_ANGLES, _ANGLES, basin_cutoff="a"),
            TypeError,
            "basin_cutoff",
        ),
        (
            lambda: analysis.compare_ramachandran(
                _ANGLES, _ANGLES, min_basin_population=1.5
            ),
            ValueError,
            "min_basin_population",
        ),
        (
            lambda: analysis.compare_ramachandran(_ANGLES, _ANGLES, missing_ratio=-1),
            ValueError,
            "missing_ratio",
        ),
        (
            lambda: analysis.compare_ramachandran(_ANGLES[:, :1], _ANGLES),
            ValueError,
            "reference",
        ),
        (lambda: analysis.autocorrelation(_X, 2**31), ValueError, "max_lag"),
        (lambda: analysis.autocorrelation(_X, 10**100), ValueError, "max_lag"),
        (lambda: analysis.relaxation_times(_X, max_lag=10**100), ValueError, "max_lag"),
        (
            lambda: analysis.fit_relaxation_times([[0.5], [-np.inf]], [1, 2]),
            ValueError,
            "acf",
        ),
        (
            lambda: analysis.fit_relaxation_times([[0.5, 0.4], [0.2]], [1, 2]),
            ValueError,
            "acf",
        ),
        (
            lambda: analysis.total_variation(_X[:, 0], _X[:, 1], bins=10**12),
            ValueError,
            "bins",
        ),
        (
            lambda: analysis.total_variation(_X[:, 0], _X[:, 1], bins="a"),
            TypeError,
            "bins",
        ),
        (
            lambda: analysis.total_variation(_X[:, 0], _X[:, 1], range="ab"),
            TypeError,
            "range",
        ),
        (
            lambda: analysis.total_variation(np.empty((25, 0)), _X[:, 1]),
            ValueError,
            "reference",
        ),
        (lambda: analysis.tica_comparison(_X, _X, 2, bins=0), ValueError, "bins"),
        (lambda: analysis.tica_comparison(_X, _X, 2, bins="a"), TypeError, "bins"),
        (
            lambda: analysis.tica_comparison(_X, _X, 2, n_components=5),
            ValueError,
            "n_components",
        ),
        (
            lambda: analysis.tica_comparison(_X, _X + 1e4, 2, min_count=1),
            ValueError,
            "generated",
        ),
        (
            lambda: analysis.tica_comparison(np.ones((50, 3)), _X, 2),
            ValueError,
            "reference",
        ),
        (lambda: analysis.tica_comparison(_X * 1e300, _X, 2), ValueError, "reference"),
        (lambda: analysis.metastable_cores(None), TypeError, "profile"),
        (
            lambda: analysis.metastable_cores(
                {"free_energy": np.zeros(2), "bin_edges": np.arange(3.0)}
            ),
            TypeError,
            "profile",
        ),
        (lambda: analysis.metastable_cores(np.zeros(3)), TypeError, "profile"),
        (
            lambda: analysis.metastable_cores(
                analysis.free_energy_profile(_X, bins=3).__class__(
                    free_energy=np.zeros(3), bin_edges=np.array([0.0, np.nan, 2, 3])
                )
            ),
            ValueError,
            "profile",
        ),
        (
            lambda: analysis.assign_cores(_X[:, :1], [("a", "b"), (0.5, 1.0)]),
            TypeError,
            "cores",
        ),
        (
            lambda: analysis.count_transitions(_X[:, :1], [("a", "b"), (0.5, 1.0)]),
            TypeError,
            "cores",
        ),
        (
            lambda: analysis.count_transitions(_X[:, :1], [(np.nan, 0.0), (0.5, 1.0)]),
            ValueError,
            "cores",
        ),
        (
            lambda: analysis.count_transitions(_X[:, :2], [(-1.0, 0.0), (0.5, 1.0)]),
            ValueError,
            "X",
        ),
        (
            lambda: analysis.profile_rmse([0, 1.0], [0, 1.0], max_free_energy=True),
            TypeError,
            "max_free_energy",
        ),
        (lambda: analysis.profile_rmse([0, 1.0], [0j, 1j]), ValueError, "other"),
        (lambda: analysis.profile_rmse([0, np.inf], [0, 1.0]), ValueError, "reference"),
        (lambda: analysis.profile_rmse([0, None], [0, 1.0]), TypeError, "reference"),
        (
            lambda: analysis.compare_bond_lengths(
                _chain(), _chain(), atom_pairs=[[0, 0]]
            ),
            ValueError,
            "atom_pairs",
        ),
        (
            lambda: analysis.msm_timescales(_X * 0, [-1.0, 0.5, 1.0], n_timescales=1),
            ValueError,
            "X",
        ),
        (
            lambda: analysis.block_average([[1.0], [2.0], [3.0, 4.0]]),
            ValueError,
            "values",
        ),
    ],
)
def test_analysis_arguments_get_named_errors(call, exc, name):
    with pytest.raises(exc, match=rf"(?<![A-Za-z_]){name}(?![A-Za-z0-9_])"):
        call()


@pytest.mark.parametrize(
    "call, exc, name",
    [
        (lambda: make_four_well(2**40), ValueError, "n_steps"),
        (lambda: make_four_well(50, dt=10.0), ValueError, "dt"),
        (lambda: make_four_well(50, kT=1e300), ValueError, "kT"),
        (lambda: make_four_well(50, x0=1e300), ValueError, "x0"),
        (lambda: make_four_well(50, dt=np.inf), ValueError, "dt"),
        (lambda: make_four_well(50, kT=np.inf), ValueError, "kT"),
        (lambda: make_four_well(50, random_state=-1), ValueError, "random_state"),
        (lambda: make_four_well(50, random_state=0.0), TypeError, "random_state"),
        (lambda: make_four_well(50, random_state="seed"), TypeError, "random_state"),
        (lambda: make_four_well(50, random_state=2**32), ValueError, "random_state"),
        (lambda: make_swissroll(20, random_state=-1), ValueError, "random_state"),
        (lambda: make_swissroll(20, return_states=2), TypeError, "return_states"),
        (
            lambda: make_metastable_hmm(20, 2, random_state=[1, 2]),
            TypeError,
            "random_state",
        ),
        (lambda: four_well_transition_matrix(0), ValueError, "n_bins"),
        (lambda: four_well_transition_matrix(1.3), TypeError, "n_bins"),
        (lambda: four_well_transition_matrix(2**63), ValueError, "n_bins"),
        (
            lambda: four_well_transition_matrix(10, x_range=(1, 0)),
            ValueError,
            "x_range",
        ),
        (
            lambda: four_well_transition_matrix(10, x_range=(0, 0)),
            ValueError,
            "x_range",
        ),
        (
            lambda: four_well_transition_matrix(10, x_range=(0, np.inf)),
            ValueError,
            "x_range",
        ),
        (lambda: four_well_transition_matrix(10, x_range=(1,)), ValueError, "x_range"),
        (lambda: four_well_transition_matrix(10, x_range=3), TypeError, "x_range"),
        (lambda: four_well_transition_matrix(10, kT=0), ValueError, "kT"),
        (lambda: four_well_transition_matrix(10, kT=1e-300), ValueError, "kT"),
        (lambda: four_well_potential(None), TypeError, "x"),
        (lambda: four_well_potential([[None]]), TypeError, "x"),
        (lambda: four_well_potential(np.ones(2) * 1e300), ValueError, "x"),
        (lambda: four_well_potential([1j]), ValueError, "x"),
        (lambda: four_well_potential(np.zeros((1, 2, 1))), ValueError, "x"),
        (lambda: four_well_boltzmann_density(np.array([["1.0"]])), TypeError, "x"),
        (lambda: four_well_boltzmann_density([0.0], kT=0), ValueError, "kT"),
        (lambda: four_well_boltzmann_density([0.0], kT=np.inf), ValueError, "kT"),
        (lambda: four_well_boltzmann_density([0.0], kT=1j), TypeError, "kT"),
        (lambda: four_well_bin_probabilities([-1, 0, 1], kT=1e-300), ValueError, "kT"),
        (lambda: four_well_bin_probabilities("a"), TypeError, "edges"),
        (
            lambda: compare_four_well(
                np.zeros((9, 1)), np.zeros((9, 1)), msm_edges="a"
            ),
            TypeError,
            "msm_edges",
        ),
        (
            lambda: compare_four_well(
                [np.zeros((9, 1)), np.zeros(9)], np.zeros((9, 1))
            ),
            TypeError,
            "reference",
        ),
        (lambda: select_lagtime(_X, [1, 2], estimator=3), TypeError, "estimator"),
        (lambda: select_lagtime(_X, [1, 2], estimator="srv"), TypeError, "estimator"),
        (lambda: select_dimension([np.inf, 0.5]), ValueError, "eigenvalues"),
        (lambda: select_dimension([1.5, 0.5]), ValueError, "eigenvalues"),
        (lambda: select_dimension([0.9 + 1j]), ValueError, "eigenvalues"),
        (lambda: select_dimension(["a"]), TypeError, "eigenvalues"),
    ],
)
def test_dataset_and_selection_arguments_get_named_errors(call, exc, name):
    with pytest.raises(exc, match=rf"(?<![A-Za-z_]){name}(?![A-Za-z0-9_])"):
        call()


def test_measure_md_speed_refuses_steps_beyond_a_c_int():
    pytest.importorskip("openmm")
    from sklss.datasets import measure_md_speed

    with pytest.raises(ValueError, match="n_steps must be at most 2147483647"):
        measure_md_speed(10**12)


def test_shared_checkers():
    assert check_real(0.5, "a", low=0.0, high=1.0, closed="neither") == 0.5
    for value, exc in ((True, TypeError), ("1", TypeError), (np.nan, ValueError)):
        with pytest.raises(exc, match="a must be a finite float"):
            check_real(value, "a")
    with pytest.raises(ValueError, match=r"a must be a finite float in \(0, 1\)"):
        check_real(1.0, "a", low=0.0, high=1.0, closed="neither")
    assert check_real(None, "a", allow_none=True) is None
    rng = check_random_state_named(7)
    assert rng.randint(10**6) == np.random.RandomState(7).randint(10**6)
    with pytest.raises(TypeError, match="seed must be None, an int"):
        check_random_state_named(True, "seed")
    with pytest.raises(TypeError, match="bins must be an int"):
        check_bins(1.5)
    with pytest.raises(ValueError, match="range applies only when bins is a number"):
        check_bins([0.0, 1.0], (0, 1))
    assert check_bins(3, (0, 1)) == (3, (0.0, 1.0))


def test_tensors_with_grad_are_accepted_by_every_array_check():
    t = torch.linspace(0, 1, 50, requires_grad=True)
    assert 0 <= analysis.total_variation(t, t.detach().numpy() + 0.1) <= 1
    np.testing.assert_array_equal(
        check_bin_edges(torch.tensor([0.0, 1.0], requires_grad=True), "e"), [0, 1]
    )
    assert select_dimension(torch.tensor([0.9, 0.1], requires_grad=True)) == (2, 1)
    four_well_potential(t)


def test_autocorrelation_does_not_underflow_or_overflow():
    for scale in (1e-300, 1e300):
        acf = analysis.autocorrelation(_X * scale, 5)
        np.testing.assert_allclose(acf, analysis.autocorrelation(_X, 5), atol=1e-12)
    result = analysis.block_average(_X[:, 0] * 1e300)
    assert np.isfinite(result.std) and np.isfinite(result.standard_error)


def test_transition_matrix_rows_do_not_overflow_at_small_kt():
    centers, P = four_well_transition_matrix(50, kT=1e-3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.all(np.isfinite(P))
