"""Tests of the ``sklss`` command line and atomic file output."""

import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklss._cli import main
from sklss._io import atomic_path

from .test_simulator import _two_state_features, small_simulator


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    data = [_two_state_features(800, s) for s in range(2)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sim = small_simulator(lagtime=2).fit(data, y=data)
    path = tmp_path_factory.mktemp("model") / "sim.joblib"
    joblib.dump(sim, path)
    return path


def test_simulate_writes_npz(model_path, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "simulate",
            str(model_path),
            "--n-steps",
            "30",
            "--n-trajectories",
            "3",
            "--seed",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    with np.load(out.with_suffix(".npz")) as f:
        assert f["latent"].shape == (3, 31, 1)
        assert f["configurations"].shape == (3, 31, 3)
        assert int(f["stride"]) == 2
    sim = joblib.load(model_path)
    expected = sim.sample(30, n_trajectories=3, random_state=1).latent
    with np.load(out.with_suffix(".npz")) as f:
        np.testing.assert_array_equal(f["latent"], expected)
    assert "wrote" in capsys.readouterr().out
    # No temporary files are left behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]


def test_info_describes_the_model(model_path, capsys):
    assert main(["info", str(model_path)]) == 0
    text = capsys.readouterr().out
    assert "SRVTransformer" in text and "MDNPropagator" in text
    assert "CWGANDecoder" in text and "lag time    2 input frames" in text
    assert "3 features -> 1 latent -> 3 outputs" in text


@pytest.mark.parametrize("content", [b"", b"garbage bytes"])
def test_bad_model_file_gives_a_clear_error(tmp_path, capsys, content):
    bad = tmp_path / "bad.joblib"
    bad.write_bytes(content)
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "could not be read as a saved sklss simulator" in err
    assert "Traceback" not in err


def test_missing_model_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.joblib")]) == 2
    assert "No saved simulator" in capsys.readouterr().err


def test_command_line_entry_point_runs(model_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sklss", "info", str(model_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "MDNPropagator" in proc.stdout


def test_atomic_path_leaves_nothing_on_interruption(tmp_path):
    target = tmp_path / "out.npz"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but broken")
            raise RuntimeError
    assert target.read_bytes() == b"old"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npz"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"


def test_simulate_writes_structures_for_molecular_models(tmp_path, capsys):
    md = pytest.importorskip("mdtraj")
    pytest.importorskip("openmm")
    from sklss import AlignedCoordinates, TorsionFeaturizer
    from sklss.datasets import load_alanine_dipeptide

    traj = load_alanine_dipeptide(200, data_home=tmp_path / "data")
    X = TorsionFeaturizer().fit_transform(traj)
    sim = small_simulator(lagtime=2, coordinates=AlignedCoordinates("not element H"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sim.fit(X, y=traj)
    model = tmp_path / "ala.joblib"
    joblib.dump(sim, model)
    out = tmp_path / "out" / "gen"
    assert (
        main(
            [
                "simulate",
                str(model),
                "--n-steps",
                "9",
                "--n-trajectories",
                "2",
                "--seed",
                "0",
                "--out",
                str(out),
                "--format",
                "xtc",
            ]
        )
        == 0
    )
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["gen.npz", "gen_0.xtc", "gen_1.xtc", "gen_topology.pdb"]
    top = md.load(str(out.parent / "gen_topology.pdb"))
    assert top.n_atoms == 10
    gen = md.load(str(out.parent / "gen_1.xtc"), top=top.topology)
    assert gen.n_frames == 10
    assert "10 atoms" in (main(["info", str(model)]) == 0 and capsys.readouterr().out)
