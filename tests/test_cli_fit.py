"""``sklss fit`` on real protein MD files (adenylate kinase, the MDAnalysis test
data), and ``sklss info`` on every kind of estimator file."""

import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sklss
from sklss._cli import main

md = pytest.importorskip("mdtraj")
datafiles = pytest.importorskip("MDAnalysisTests.datafiles")
# AdK, 3,341 atoms (214 residues): two DIMS closed-to-open transition runs.
PSF, DCD, DCD2 = datafiles.PSF, datafiles.DCD, datafiles.DCD2


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """``sklss fit`` on the two AdK trajectories, lag time and dimension selected."""
    out = tmp_path_factory.mktemp("adk") / "adk.sklss"
    code = main(
        [
            "fit",
            "--top",
            PSF,
            "--traj",
            DCD,
            DCD2,
            "--out",
            str(out),
            "--timestep",
            "1.0",
            "--max-epochs",
            "3",
            "--quiet",
        ]
    )
    assert code == 0
    return out


def store_of(model):
    return sklss.open_feature_store(model.with_suffix(".features.zarr"))


def test_fit_trains_a_molecular_simulator_from_files(fitted, capsys):
    sim = sklss.load(fitted)
    trajs = [md.load(f, top=PSF) for f in (DCD, DCD2)]
    n_ca = len(trajs[0].topology.select("name CA"))
    assert sim.coordinates_.topology_.n_atoms == n_ca == 214
    # Backbone phi/psi of 214 residues, as sin and cos: 4 * 213 features.
    assert sim.n_features_in_ == 4 * 213
    summary = json.loads(fitted.with_suffix(".summary.json").read_text())
    data = summary["data"]
    assert data["frames"] == [t.n_frames for t in trajs]
    assert data["n_features"] == sim.n_features_in_ and data["timestep_ps"] == 1.0
    # Automatic selection: the candidates under 1/20 of the shortest trajectory.
    scan = summary["model_selection"]["scan"]["lagtimes"]
    assert scan == [t for t in (1, 2, 5) if t <= min(data["frames"]) // 20]
    assert summary["model_selection"]["lagtime_frames"] == sim.lagtime_ in scan
    assert summary["model_selection"]["n_components"] == sim.n_components_
    # The slow SRV coordinates, then two principal components of the features.
    n_slow = summary["model_selection"]["n_slow"]
    assert sim.n_components_ == n_slow + 2
    srv, structure = (part for _, part in sim.encoder_.transformer_list)
    assert srv.n_components == n_slow
    validation = summary["validation"]
    assert validation["coordinates"] == [f"psi{i + 1}" for i in range(n_slow)] + [
        "pc1",
        "pc2",
    ]
    np.testing.assert_allclose(validation["eigenvalues"], srv.eigenvalues_)
    assert sim.propagator_.n_kernels == summary["model_selection"]["n_kernels"] == 24
    # The command line's default is the propagator's own.
    assert sklss.MDNPropagator().n_kernels == 24
    # The principal components are those of the standardised features (numpy).
    X = np.concatenate([np.asarray(t, dtype=np.float64) for t in store_of(fitted)])
    std = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)
    evals, evecs = np.linalg.eigh(np.cov(std.T))
    pca = structure.transformer_[-1]
    overlap = np.abs(pca.components_ @ evecs[:, ::-1][:, :2])
    assert np.all(np.diag(overlap) > 0.99), overlap
    assert set(validation["epochs"]) == {"encoder", "propagator", "decoder"}
    assert all(1 <= n <= 3 for n in validation["epochs"].values())
    assert np.isfinite(validation["propagator_validation_log_likelihood"])
    assert summary["sha256"] == sklss._io.file_sha256(fitted)
    # The feature store stays beside the model, one trajectory per file.
    store = store_of(fitted)
    assert [len(t) for t in store] == data["frames"]
    # The encoder's features are the store's: the same frames encode the same.
    first = np.asarray(store[0][:5])
    np.testing.assert_allclose(
        sim.transform(first), sim.encoder_.transform(first), rtol=1e-6
    )


def test_the_fitted_file_runs_under_info_and_simulate(fitted, tmp_path, capsys):
    assert main(["info", str(fitted)]) == 0
    text = capsys.readouterr().out
    assert "LatentSpaceSimulator" in text and "214 atoms" in text
    assert "time step 1 ps per frame" in text
    code = main(
        [
            "simulate",
            str(fitted),
            "--n-steps",
            "5",
            "--n-trajectories",
            "2",
            "--seed",
            "1",
            "--out",
            str(tmp_path / "gen"),
        ]
    )
    assert code == 0
    assert f"({sklss.load(fitted).lagtime_:g} ps apart" in capsys.readouterr().out
    top = md.load(str(tmp_path / "gen_topology.pdb"))
    traj = md.load(str(tmp_path / "gen_0.dcd"), top=top)
    assert traj.n_frames == 6 and traj.n_atoms == 214
    assert np.isfinite(traj.xyz).all()


def test_fit_with_given_lag_and_dimension_and_no_decoder(tmp_path, capsys):
    out = tmp_path / "latent.sklss"
    argv = [
        "fit",
        "--top",
        PSF,
        "--traj",
        DCD,
        "--out",
        str(out),
        "--lagtime",
        "2",
        "--n-components",
        "1",
        "--decoder-atoms",
        "none",
        "--features",
        "distances",
        "--feature-atoms",
        "name CA and resid 1 to 20",
        "--max-epochs",
        "2",
        "--quiet",
    ]
    assert main(argv) == 0
    sim = sklss.load(out)
    assert (sim.lagtime_, sim.n_components_) == (2, 1)
    assert sim.decoder_ is None and sim.n_features_in_ == 20 * 19 // 2
    printed = capsys.readouterr().out
    assert "validation summary" in printed and "lag time          2 frames" in printed
    # DCD files record no time step: times are in frames, and said so.
    assert "no time step in the files" in printed
    # An existing model is kept unless --overwrite.
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--traj", "/nonexistent/*.dcd"], "matches no file"),
        (["--traj", DCD, "--decoder-atoms", "name XYZ"], "selects no atom"),
        (["--traj", DCD, "--lagtime", "fast"], "--lagtime must be an integer"),
        (["--traj", DCD, "--n-components", "0"], "--n-components must be >= 1"),
        (["--traj", DCD, "--stride", "0"], "--stride must be >= 1"),
        (["--traj", DCD, "--n-kernels", "0"], "--n-kernels must be >= 1"),
    ],
)
def test_bad_fit_arguments_are_named(tmp_path, capsys, extra, message):
    argv = ["fit", "--top", PSF, "--out", str(tmp_path / "m.sklss"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.sklss").exists()


def test_out_must_be_a_sklss_file(tmp_path, capsys):
    argv = ["fit", "--top", PSF, "--traj", DCD, "--out", str(tmp_path / "m.pkl")]
    assert main(argv) == 2
    assert "--out must name a .sklss file" in capsys.readouterr().err


def test_info_describes_networks_and_ensembles(tmp_path, capsys):
    from sklss.datasets import make_metastable_hmm

    X = make_metastable_hmm(n_frames=300, n_trajectories=2, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        mdn = sklss.MDNPropagator(n_kernels=2, max_epochs=2, random_state=0).fit(X)
        srv = sklss.SRVTransformer(n_components=1, max_epochs=2, random_state=0).fit(X)
    for name, est, expected in [
        ("mdn", mdn, "MDNPropagator(lagtime=1, n_kernels=2"),
        ("srv", srv, "time scales"),
    ]:
        path = tmp_path / f"{name}.sklss"
        sklss.save(est, path)
        assert main(["info", str(path)]) == 0
        text = capsys.readouterr().out
        assert f"sklss {type(est).__name__}" in text and expected in text
        assert "2 epochs" in text
    # simulate samples a propagator file from --start, and refuses other networks.
    argv = ["simulate", str(tmp_path / "mdn.sklss"), "--n-steps", "20", "--seed", "3"]
    assert main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert "give --start with 2 latent value(s)" in capsys.readouterr().err
    assert main([*argv, "--start", "0.1", "--out", str(tmp_path / "x")]) == 2
    assert "--start must hold 2 values" in capsys.readouterr().err
    out = tmp_path / "run"
    code = main(
        [*argv, "--start", "0.1,-0.2", "--n-trajectories", "3", "--out", str(out)]
    )
    assert code == 0
    with np.load(f"{out}.npz") as saved:
        latent = saved["latent"]
    assert latent.shape == (3, 21, 2)
    np.testing.assert_allclose(latent[:, 0], [[0.1, -0.2]] * 3)
    # The same as sampling the loaded propagator in Python with that seed.
    expected = sklss.load(tmp_path / "mdn.sklss").sample(
        np.array([[0.1, -0.2]] * 3), 20, random_state=3
    )
    np.testing.assert_array_equal(latent, expected)
    manifest = json.loads(out.with_name("run.manifest.json").read_text())
    assert manifest["files"][0]["name"] == "run.npz" and manifest["complete"]
    code = main(
        ["simulate", str(tmp_path / "srv.sklss"), "--n-steps", "2", "--out", "y"]
    )
    assert code == 2
    assert "holds a SRVTransformer" in capsys.readouterr().err


def test_info_refuses_an_unfitted_simulator(tmp_path, capsys):
    path = tmp_path / "unfitted.sklss"
    sklss.save(sklss.LatentSpaceSimulator(), path)
    assert main(["info", str(path)]) == 2
    assert "unfitted or incomplete LatentSpaceSimulator" in capsys.readouterr().err
