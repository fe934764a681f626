"""Alanine dipeptide MD data: generation, caching, atomic writes, arguments."""

import json

import numpy as np
import pytest

pytest.importorskip("openmm")

from sklss.datasets import (  # noqa: E402
    _alanine,
    load_alanine_dipeptide,
    measure_md_speed,
)


@pytest.fixture
def short_equilibration(monkeypatch):
    # The physics is unchanged; only the (cache-keyed) equilibration is shortened
    # so that each generation takes a fraction of a second.
    settings = dict(_alanine._SETTINGS, equilibration_steps=500)
    monkeypatch.setattr(_alanine, "_SETTINGS", settings)


@pytest.fixture
def count_simulations(monkeypatch):
    calls = []
    simulate = _alanine._simulate

    def counting(*args, **kwargs):
        calls.append(args)
        return simulate(*args, **kwargs)

    monkeypatch.setattr(_alanine, "_simulate", counting)
    return calls


def test_generates_molecule_with_default_settings(tmp_path):
    traj, meta = load_alanine_dipeptide(20, data_home=tmp_path, return_metadata=True)
    assert traj.n_atoms == 22 and traj.n_frames == 20
    assert [r.name for r in traj.topology.residues] == ["ACE", "ALA", "NME"]
    elements = [a.element.symbol for a in traj.topology.atoms]
    assert elements.count("H") == 12 and elements.count("C") == 6
    np.testing.assert_allclose(traj.time, np.arange(20.0))
    assert traj.xyz.dtype == np.float32
    # Bonds to hydrogen are constrained at the force field's lengths (nm).
    bonds = np.array(
        [
            (a.index, b.index)
            for a, b in traj.topology.bonds
            if "H" in (a.element.symbol, b.element.symbol)
        ]
    )
    lengths = np.linalg.norm(
        traj.xyz[:, bonds[:, 0]] - traj.xyz[:, bonds[:, 1]], axis=2
    )
    # AMBER: N-H 0.101 nm, C-H 0.109 nm.
    partners = {
        traj.topology.atom(i).element.symbol + traj.topology.atom(j).element.symbol
        for i, j in bonds
    }
    assert partners <= {"HC", "CH", "HN", "NH"}
    is_nh = [
        "N"
        in (traj.topology.atom(i).element.symbol, traj.topology.atom(j).element.symbol)
        for i, j in bonds
    ]
    expected = np.where(is_nh, 0.101, 0.109)
    np.testing.assert_allclose(
        lengths, np.broadcast_to(expected, lengths.shape), atol=2e-4
    )
    # Frames move: 1 ps of 300 K dynamics changes the structure.
    assert np.all(np.abs(np.diff(traj.xyz, axis=0)).max(axis=(1, 2)) > 0.01)
    assert meta["steps_per_second"] > 0
    assert meta["ns_per_day"] == pytest.approx(meta["steps_per_second"] * 2e-6 * 86400)
    assert meta["platform"] == "Reference" and meta["random_state"] == 0
    assert meta["settings"]["temperature_K"] == 300.0
    sidecar = json.loads(
        (tmp_path / "alanine_dipeptide").glob("*.json").__next__().read_text()
    )
    assert sidecar["steps_per_second"] == meta["steps_per_second"]


def test_second_call_reads_cache(tmp_path, short_equilibration, count_simulations):
    first = load_alanine_dipeptide(10, data_home=tmp_path)
    assert len(count_simulations) == 1
    second, meta = load_alanine_dipeptide(10, data_home=tmp_path, return_metadata=True)
    assert len(count_simulations) == 1
    np.testing.assert_array_equal(first.xyz, second.xyz)
    assert meta["path"].endswith(".npz")
    # Different length, seed or force=True simulate again.
    load_alanine_dipeptide(12, data_home=tmp_path)
    load_alanine_dipeptide(10, data_home=tmp_path, random_state=1)
    load_alanine_dipeptide(10, data_home=tmp_path, force=True)
    assert len(count_simulations) == 4


def test_same_seed_reproduces_and_platform_is_not_in_key(
    tmp_path, short_equilibration, count_simulations
):
    a = load_alanine_dipeptide(8, data_home=tmp_path / "a", random_state=3)
    b = load_alanine_dipeptide(8, data_home=tmp_path / "b", random_state=3)
    np.testing.assert_allclose(a.xyz, b.xyz, atol=1e-5)
    c = load_alanine_dipeptide(
        8, data_home=tmp_path / "a", random_state=3, platform="CPU"
    )
    np.testing.assert_array_equal(a.xyz, c.xyz)
    assert len(count_simulations) == 2


def test_environment_variable_sets_data_home(
    tmp_path, monkeypatch, short_equilibration
):
    monkeypatch.setenv("SKLSS_DATA", str(tmp_path / "env"))
    load_alanine_dipeptide(5)
    assert list((tmp_path / "env" / "alanine_dipeptide").glob("*.npz"))


def test_failed_generation_leaves_no_complete_looking_file(
    tmp_path, monkeypatch, short_equilibration
):
    positions = _alanine._positions_nm
    calls = []

    def crash_midway(context):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return positions(context)

    monkeypatch.setattr(_alanine, "_positions_nm", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        load_alanine_dipeptide(10, data_home=tmp_path)
    # Neither the data file nor its temporary (".<name>.<random>.part.npz") is left;
    # only the lock file, which stays by design.
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_crash_while_writing_removes_temporary_file(
    tmp_path, monkeypatch, short_equilibration, count_simulations
):
    def partial_write(f, **arrays):
        f.write(b"PK\x03\x04 truncated")
        raise OSError("disk full")

    monkeypatch.setattr(_alanine.np, "savez", partial_write)
    with pytest.raises(OSError, match="disk full"):
        load_alanine_dipeptide(6, data_home=tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".lock"]
    monkeypatch.undo()


def test_leftover_temporary_file_is_not_taken_as_data(
    tmp_path, short_equilibration, count_simulations
):
    path = _alanine._cache_path(tmp_path, 6, 0)
    path.parent.mkdir(parents=True)
    # What a killed process leaves behind: the writer's temporary file (hidden,
    # ".part" before the suffix), never the final name.
    (path.parent / f".{path.stem}.k1ll3d.part{path.suffix}").write_bytes(b"PK\x03")
    traj = load_alanine_dipeptide(6, data_home=tmp_path)
    assert len(count_simulations) == 1 and traj.n_frames == 6


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_frames": 1}, ValueError, "n_frames"),
        ({"n_frames": 2.5}, TypeError, "n_frames"),
        ({"n_frames": "10"}, TypeError, "n_frames"),
        ({"n_frames": True}, TypeError, "n_frames"),
        ({"random_state": None}, TypeError, "random_state"),
        ({"random_state": -1}, ValueError, "random_state"),
        ({"platform": "CUDA"}, ValueError, "platform"),
        ({"data_home": 3}, TypeError, "data_home"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error, match):
    kwargs = {"n_frames": 10, "data_home": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        load_alanine_dipeptide(**kwargs)


def test_measure_md_speed():
    speed = measure_md_speed(200)
    assert speed["steps_per_second"] > 0
    assert speed["ns_per_day"] == pytest.approx(speed["steps_per_second"] * 0.1728)
    with pytest.raises(ValueError, match="n_steps"):
        measure_md_speed(0)
