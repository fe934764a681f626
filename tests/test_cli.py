"""Tests of the ``sklss`` command line and atomic file output."""

import hashlib
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import sklss
from sklss._cli import main
from sklss._io import atomic_path

from .test_serialization import pickle_with_side_effect
from .test_simulator import _two_state_features, small_simulator


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    data = [_two_state_features(800, s) for s in range(2)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sim = small_simulator(lagtime=2).fit(data, y=data)
    path = tmp_path_factory.mktemp("model") / "sim.sklss"
    sklss.save(sim, path)
    return path


def _simulate(model, out, *extra, n_steps=30, n_trajectories=3):
    return main(
        [
            "simulate",
            str(model),
            "--n-steps",
            str(n_steps),
            "--n-trajectories",
            str(n_trajectories),
            "--seed",
            "1",
            "--out",
            str(out),
            *extra,
        ]
    )


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
    sim = sklss.load(model_path)
    expected = sim.sample(30, n_trajectories=3, random_state=1).latent
    with np.load(out.with_suffix(".npz")) as f:
        np.testing.assert_array_equal(f["latent"], expected)
    assert "wrote" in capsys.readouterr().out
    # No temporary files are left behind; the manifest lists what was written.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.manifest.json",
        "run.npz",
    ]
    manifest = json.loads((tmp_path / "run.manifest.json").read_text())
    assert manifest["complete"] is True
    (entry,) = manifest["files"]
    data = (tmp_path / "run.npz").read_bytes()
    assert entry == {
        "name": "run.npz",
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert (
        manifest["model_sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest()
    )


def test_info_describes_the_model(model_path, capsys):
    assert main(["info", str(model_path)]) == 0
    text = capsys.readouterr().out
    assert "SRVTransformer" in text and "MDNPropagator" in text
    assert "CWGANDecoder" in text and "lag time    2 input frames" in text
    assert "3 features -> 1 latent -> 3 outputs" in text
    assert hashlib.sha256(model_path.read_bytes()).hexdigest() in text
    assert f"sklss {sklss.__version__}, torch" in text and "numpy" in text


def test_info_lists_the_parts_of_a_composite_encoder(tmp_path, capsys):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = [_two_state_features(400, s) for s in range(2)]
    pca = sklss.FrameWise(make_pipeline(StandardScaler(), PCA(n_components=1)))
    encoder = sklss.FeatureUnion(
        [("srv", sklss.SRVTransformer(n_components=1)), ("structure", pca)]
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sim = small_simulator(lagtime=2).set_params(encoder=encoder).fit(data)
    sklss.save(sim, tmp_path / "union.sklss")
    assert main(["info", str(tmp_path / "union.sklss")]) == 0
    line = next(
        x for x in capsys.readouterr().out.splitlines() if "encoder" in x.split()[:1]
    )
    srv = sim.encoder_.transformer_list[0][1]
    n_weights = sum(p.numel() for p in srv.network_.parameters())
    assert line.split(None, 1)[1] == (
        "FeatureUnion(srv: SRVTransformer(lagtime=2, n_components=1, "
        "hidden_layer_sizes=(100, 100), activation='tanh'), structure: FrameWise("
        f"Pipeline(StandardScaler() -> PCA(n_components=1)))), {n_weights:,} weights"
    )


@pytest.mark.parametrize("content", [b"", b"garbage bytes"])
def test_bad_model_file_gives_a_clear_error(tmp_path, capsys, content):
    bad = tmp_path / "bad.sklss"
    bad.write_bytes(content)
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not a .sklss file" in err
    assert "Traceback" not in err
    assert main(["info", str(bad), "--allow-pickle"]) == 2
    assert "could not be read as a saved sklss simulator" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["info", "simulate"])
def test_pickles_are_refused_without_allow_pickle(model_path, tmp_path, command):
    marker = tmp_path / "marker"
    evil = pickle_with_side_effect(sklss.load(model_path), tmp_path / "m.pkl", marker)
    extra = ["--n-steps", "3", "--out", str(tmp_path / "o")] * (command == "simulate")
    proc = subprocess.run(
        [sys.executable, "-m", "sklss", command, str(evil), *extra],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "--allow-pickle" in proc.stderr and "can run any code" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not marker.exists()
    assert not (tmp_path / "o.npz").exists()
    # Trusting the file is an explicit choice (and then its code does run).
    proc = subprocess.run(
        [sys.executable, "-m", "sklss", command, str(evil), *extra, "--allow-pickle"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


def test_missing_model_file(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.sklss")]) == 2
    assert "No saved model" in capsys.readouterr().err


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
    model = tmp_path / "ala.sklss"
    sklss.save(sim, model)
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
    assert names == [
        "gen.manifest.json",
        "gen.npz",
        "gen_0.xtc",
        "gen_1.xtc",
        "gen_topology.pdb",
    ]
    top = md.load(str(out.parent / "gen_topology.pdb"))
    assert top.n_atoms == 10
    gen = md.load(str(out.parent / "gen_1.xtc"), top=top.topology)
    assert gen.n_frames == 10
    assert "10 atoms" in (main(["info", str(model)]) == 0 and capsys.readouterr().out)


def test_existing_outputs_are_kept_unless_overwrite(model_path, tmp_path, capsys):
    out = tmp_path / "run"
    assert _simulate(model_path, out) == 0
    before = (tmp_path / "run.npz").read_bytes()
    assert _simulate(model_path, out, n_steps=5) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "run.npz" in err
    assert (tmp_path / "run.npz").read_bytes() == before
    assert _simulate(model_path, out, "--overwrite", n_steps=5) == 0
    with np.load(tmp_path / "run.npz") as f:
        assert f["latent"].shape == (3, 6, 1)


def test_overwrite_removes_the_files_of_a_larger_earlier_run(tmp_path):
    pytest.importorskip("openmm")
    from sklss import AlignedCoordinates, TorsionFeaturizer
    from sklss.datasets import load_alanine_dipeptide

    traj = load_alanine_dipeptide(200, data_home=tmp_path / "data")
    sim = small_simulator(lagtime=2, coordinates=AlignedCoordinates("not element H"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        sim.fit(TorsionFeaturizer().fit_transform(traj), y=traj)
    model = tmp_path / "ala.sklss"
    sklss.save(sim, model)
    out = tmp_path / "out" / "gen"
    assert _simulate(model, out, n_steps=4, n_trajectories=3) == 0
    assert _simulate(model, out, "--overwrite", n_steps=4, n_trajectories=2) == 0
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == [
        "gen.manifest.json",
        "gen.npz",
        "gen_0.dcd",
        "gen_1.dcd",
        "gen_topology.pdb",
    ]
    manifest = json.loads((out.parent / "gen.manifest.json").read_text())
    assert sorted(f["name"] for f in manifest["files"]) == names[1:]


def test_dotted_prefixes_are_kept(model_path, tmp_path):
    assert _simulate(model_path, tmp_path / "exp.v1") == 0
    assert _simulate(model_path, tmp_path / "exp.v2") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "exp.v1.manifest.json",
        "exp.v1.npz",
        "exp.v2.manifest.json",
        "exp.v2.npz",
    ]


@pytest.mark.parametrize("n_steps", [10**9, 10**12])
def test_runs_that_do_not_fit_are_refused_before_allocating(
    model_path, tmp_path, capsys, n_steps
):
    assert _simulate(model_path, tmp_path / "big", n_steps=n_steps) == 2
    err = capsys.readouterr().err
    assert "--n-steps" in err and "GiB" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_os_errors_are_reported_without_a_traceback(model_path, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert _simulate(model_path, blocker / "run") == 2
    err = capsys.readouterr().err
    assert "sklss simulate: error: cannot use" in err and "--out" in err
    assert "Traceback" not in err and "MDNPropagator.sample" not in err
    directory = tmp_path / "dir.sklss"
    directory.mkdir()
    assert main(["info", str(directory)]) == 2


def test_an_interrupted_run_has_no_manifest(model_path, tmp_path, monkeypatch, capsys):
    import numpy

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(numpy, "savez", interrupted)
    assert _simulate(model_path, tmp_path / "run") == 130
    assert "incomplete" in capsys.readouterr().err
    # Neither a half-written file nor a manifest claiming completion.
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- --zarr, --scheduler


def _tree_digest(directory):
    """sha256 over the sorted '<path>\\0<sha256>\\n' lines of a directory's files."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        line = path.relative_to(directory).as_posix() + "\0"
        line += hashlib.sha256(path.read_bytes()).hexdigest() + "\n"
        digest.update(line.encode())
    return digest.hexdigest()


def test_simulate_zarr_writes_one_store_and_a_manifest(model_path, tmp_path, capsys):
    pytest.importorskip("zarr")
    pytest.importorskip("dask")
    from sklss._distributed import open_zarr_trajectories, sample_to_zarr

    assert _simulate(model_path, tmp_path / "run", "--zarr") == 0
    assert f"wrote {tmp_path / 'run.zarr'}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.manifest.json",
        "run.zarr",
    ]
    store = open_zarr_trajectories(tmp_path / "run.zarr")
    assert store.latent.shape == (3, 31, 1) and store.configurations.shape == (3, 31, 3)
    expected = sample_to_zarr(
        sklss.load(model_path),
        tmp_path / "direct" / "run.zarr",
        n_steps=30,
        n_trajectories=3,
        random_state=1,
        verbose=False,
    )
    np.testing.assert_array_equal(store.latent.compute(), expected.latent.compute())
    manifest = json.loads((tmp_path / "run.manifest.json").read_text())
    assert manifest["complete"] is True and manifest["seed"] == 1
    (entry,) = manifest["files"]
    files = [p for p in (tmp_path / "run.zarr").rglob("*") if p.is_file()]
    assert entry["name"] == "run.zarr" and entry["format"] == "zarr"
    assert entry["n_files"] == len(files)
    assert entry["bytes"] == sum(p.stat().st_size for p in files)
    assert entry["sha256"] == _tree_digest(tmp_path / "run.zarr")
    assert entry["sha256"] == _tree_digest(tmp_path / "direct" / "run.zarr")


def test_scheduler_is_only_valid_with_zarr(model_path, tmp_path, capsys):
    assert _simulate(model_path, tmp_path / "run", "--scheduler", "local") == 2
    err = capsys.readouterr().err
    assert "--scheduler applies only with --zarr" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_simulate_zarr_on_a_scheduler_writes_the_same_store(model_path, tmp_path):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    assert _simulate(model_path, tmp_path / "here", "--zarr") == 0
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        args = ("--zarr", "--scheduler", cluster.scheduler_address)
        assert _simulate(model_path, tmp_path / "there", *args) == 0
    here = json.loads((tmp_path / "here.manifest.json").read_text())
    there = json.loads((tmp_path / "there.manifest.json").read_text())
    assert there["files"][0]["sha256"] == here["files"][0]["sha256"]


def test_scheduler_local_starts_and_closes_a_cluster(
    model_path, tmp_path, monkeypatch, capsys
):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    started = []
    real = distributed.LocalCluster

    def small_local_cluster(**kwargs):  # in this process: quick to start
        started.append(kwargs)
        cluster = real(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
        )
        started.append(cluster)
        return cluster

    monkeypatch.setattr(distributed, "LocalCluster", small_local_cluster)
    assert (
        _simulate(model_path, tmp_path / "run", "--zarr", "--scheduler", "local") == 0
    )
    assert started[0] == {"threads_per_worker": 1}
    assert started[1].status.name == "closed"
    assert "generating on the Dask cluster" in capsys.readouterr().out


def test_unreachable_scheduler_is_reported(model_path, tmp_path, capsys):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = _simulate(
            model_path, tmp_path / "run", "--zarr", "--scheduler", "tcp://127.0.0.1:9"
        )
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot connect to the Dask scheduler at --scheduler" in err
    assert not (tmp_path / "run.manifest.json").exists()


def test_an_interrupted_zarr_run_is_completed_by_the_same_command(
    model_path, tmp_path, capsys
):
    zarr = pytest.importorskip("zarr")
    assert _simulate(model_path, tmp_path / "run", "--zarr") == 0
    first = json.loads((tmp_path / "run.manifest.json").read_text())
    # What a killed run leaves: a chunk without its marker, no manifest.
    group = zarr.open_group(str(tmp_path / "run.zarr"), mode="r+")
    group["chunk_done"][0] = 0
    group["latent"][:] = np.nan
    group.attrs["complete"] = False
    (tmp_path / "run.manifest.json").unlink()
    capsys.readouterr()
    assert _simulate(model_path, tmp_path / "run", "--zarr") == 0
    assert "completing the interrupted run" in capsys.readouterr().out
    again = json.loads((tmp_path / "run.manifest.json").read_text())
    assert again["files"] == first["files"]
    # A complete run is kept unless --overwrite.
    assert _simulate(model_path, tmp_path / "run", "--zarr", n_steps=5) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (
        _simulate(model_path, tmp_path / "run", "--zarr", "--overwrite", n_steps=5) == 0
    )
    assert json.loads((tmp_path / "run.manifest.json").read_text())["n_steps"] == 5


def test_overwrite_replaces_stores_but_not_other_directories(
    model_path, tmp_path, capsys
):
    pytest.importorskip("zarr")
    assert _simulate(model_path, tmp_path / "run", "--zarr") == 0
    assert _simulate(model_path, tmp_path / "run", "--overwrite") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "run.manifest.json",
        "run.npz",
    ]
    mine = tmp_path / "mine.zarr"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert _simulate(model_path, tmp_path / "mine", "--zarr", "--overwrite") == 2
    assert "not a sklss trajectory store" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep me"


def test_every_option_has_help_text():
    import argparse

    from sklss._cli import build_parser

    missing = []

    def visit(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    visit(sub, f"{prefix} {name}")
            elif action.help in (None, "") and not isinstance(
                action, argparse._VersionAction
            ):
                missing.append(
                    f"{prefix} {'/'.join(action.option_strings) or action.dest}"
                )

    visit(build_parser(), "sklss")
    assert missing == []


def test_start_is_for_propagator_files(model_path, tmp_path, capsys):
    code = _simulate(model_path, tmp_path / "run", "--start", "0.5")
    assert code == 2
    assert "--start applies to propagator files" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
