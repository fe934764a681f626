"""OpenMMEngine: segments, seeds, resuming from disk, the alanine system, arguments."""

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
md = pytest.importorskip("mdtraj")

from openmm import unit  # noqa: E402

from sklss.datasets import _alanine  # noqa: E402
from sklss.md import (  # noqa: E402
    OpenMMEngine,
    _segment_seeds,
    alanine_dipeptide_structure,
)

# 20 steps of 2 fs per frame: a few hundred steps per test, well under a second.
FAST = {"steps_per_frame": 20}


@pytest.fixture(scope="module")
def start():
    return alanine_dipeptide_structure()


def engine(**kwargs):
    return OpenMMEngine.alanine_dipeptide(**{**FAST, **kwargs})


def test_segments_have_the_start_then_frames_every_steps_per_frame(start):
    eng = engine(random_state=0)
    starts = md.join([start, start])
    before = starts.xyz.copy()
    segments = eng.run(starts, 5, verbose=False)
    assert len(segments) == 2
    for seg in segments:
        assert seg.n_frames == 6 and seg.n_atoms == 22
        assert [r.name for r in seg.topology.residues] == ["ACE", "ALA", "NME"]
        np.testing.assert_array_equal(seg.xyz[0], start.xyz[0])
        np.testing.assert_allclose(seg.time, np.arange(6) * 0.04)
        # 40 fs between frames moves every frame at 300 K.
        assert np.all(np.abs(np.diff(seg.xyz, axis=0)).max(axis=(1, 2)) > 1e-3)
        assert seg.unitcell_vectors is None
    # Same start, different segment index: different velocities and noise.
    assert np.abs(segments[0].xyz[-1] - segments[1].xyz[-1]).max() > 1e-3
    np.testing.assert_array_equal(starts.xyz, before)
    assert eng.frame_interval == pytest.approx(0.04)
    assert eng.md_time_ns_ == pytest.approx(2 * 5 * 0.04e-3)
    assert eng.last_run_["n_simulated"] == 2 and eng.last_run_["n_read"] == 0


def test_bonds_to_hydrogen_keep_their_constrained_length(start):
    seg = engine(random_state=0).run(start, 5, verbose=False)[0]
    top = seg.topology
    bonds = np.array(
        [
            (a.index, b.index)
            for a, b in top.bonds
            if "H" in (a.element.symbol, b.element.symbol)
        ]
    )
    lengths = np.linalg.norm(
        seg.xyz[1:, bonds[:, 0]] - seg.xyz[1:, bonds[:, 1]], axis=2
    )
    assert np.all((lengths > 0.100) & (lengths < 0.1095))


@pytest.mark.parametrize("seed", [0, 7])
def test_same_seed_reproduces_different_seeds_differ(start, seed):
    a = engine(random_state=seed).run(start, 5, verbose=False)[0]
    b = engine(random_state=seed).run(start, 5, verbose=False)[0]
    c = engine(random_state=seed + 1).run(start, 5, verbose=False)[0]
    np.testing.assert_array_equal(a.xyz, b.xyz)
    assert np.abs(a.xyz[-1] - c.xyz[-1]).max() > 1e-3


def test_no_seed_gives_fresh_noise(start):
    eng = engine()
    a = eng.run(start, 5, verbose=False)[0]
    b = eng.run(start, 5, verbose=False)[0]
    assert np.abs(a.xyz[-1] - b.xyz[-1]).max() > 1e-3


def test_segment_seed_comes_from_the_segment_index(start):
    pair = engine(random_state=3).run(md.join([start, start]), 4, verbose=False)
    second = engine(random_state=3).run(start, 4, first_segment=1, verbose=False)[0]
    np.testing.assert_array_equal(pair[1].xyz, second.xyz)


def test_segment_seeds_are_valid_openmm_seeds_and_never_zero():
    seeds = np.array(
        [_segment_seeds(root, i) for root in (0, 1, 2**32 - 1) for i in range(300)]
    )
    assert seeds.min() >= 1 and seeds.max() <= 2**31 - 1
    assert len(np.unique(seeds)) == seeds.size
    assert _segment_seeds(0, 5) == _segment_seeds(0, 5)


def test_out_writes_segments_and_a_rerun_reads_them(start, tmp_path, monkeypatch):
    eng = engine(random_state=0)
    first = eng.run(md.join([start, start]), 4, out=tmp_path, verbose=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [
        "engine.json",
        "segment_00000.trr",
        "segment_00001.trr",
        "topology.pdb",
    ]
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.trr")}

    calls = []
    run_segment = OpenMMEngine._run_segment

    def counting(self, *args):
        calls.append(args)
        return run_segment(self, *args)

    monkeypatch.setattr(OpenMMEngine, "_run_segment", counting)
    again = eng.run(md.join([start, start, start]), 4, out=tmp_path, verbose=False)
    assert len(calls) == 1  # only the third segment is new
    assert eng.last_run_["n_read"] == 2 and eng.last_run_["n_simulated"] == 1
    assert {
        p.name: p.stat().st_mtime_ns for p in tmp_path.glob("segment_0000[01].trr")
    } == stamps
    for a, b in zip(first, again[:2], strict=True):
        np.testing.assert_array_equal(a.xyz, b.xyz)
        np.testing.assert_allclose(a.time, b.time)
    # The file written is the trajectory returned.
    on_disk = md.load(
        str(tmp_path / "segment_00002.trr"), top=str(tmp_path / "topology.pdb")
    )
    np.testing.assert_array_equal(on_disk.xyz, again[2].xyz)
    # The same seeds as without out: the directory does not change the dynamics.
    plain = engine(random_state=0).run(md.join([start, start, start]), 4, verbose=False)
    np.testing.assert_array_equal(plain[2].xyz, again[2].xyz)


def test_interrupted_run_keeps_finished_segments_only(start, tmp_path, monkeypatch):
    run_segment = OpenMMEngine._run_segment
    calls = []

    def interrupted(self, *args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return run_segment(self, *args)

    monkeypatch.setattr(OpenMMEngine, "_run_segment", interrupted)
    starts = md.join([start] * 4)
    with pytest.raises(KeyboardInterrupt):
        engine(random_state=0).run(starts, 3, out=tmp_path, verbose=False)
    assert sorted(p.name for p in tmp_path.glob("*segment*")) == [
        "segment_00000.trr",
        "segment_00001.trr",
    ]
    monkeypatch.setattr(OpenMMEngine, "_run_segment", run_segment)
    eng = engine(random_state=0)
    resumed = eng.run(starts, 3, out=tmp_path, verbose=False)
    assert eng.last_run_["n_simulated"] == 2 and eng.last_run_["n_read"] == 2
    complete = engine(random_state=0).run(starts, 3, verbose=False)
    for a, b in zip(resumed, complete, strict=True):
        np.testing.assert_array_equal(a.xyz, b.xyz)


def test_out_of_another_run_is_refused(start, tmp_path):
    engine(random_state=0).run(start, 3, out=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="other MD settings.*steps_per_frame"):
        engine(steps_per_frame=10).run(start, 3, out=tmp_path, verbose=False)
    with pytest.raises(ValueError, match="holds 4 frames, but n_frames=5"):
        engine().run(start, 5, out=tmp_path, verbose=False)
    moved = md.Trajectory(start.xyz + 0.05, start.topology)
    with pytest.raises(ValueError, match="does not start from the structure"):
        engine().run(moved, 3, out=tmp_path, verbose=False)
    (tmp_path / "segment_00001.trr").write_bytes(b"not a trajectory")
    with pytest.raises(ValueError, match="cannot be read.*delete it"):
        engine().run(md.join([start, start]), 3, out=tmp_path, verbose=False)
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(ValueError, match="out must be a directory"):
        engine().run(start, 3, out=afile, verbose=False)


def test_alanine_engine_uses_the_data_set_builder(monkeypatch):
    calls = []
    build = _alanine._build_system

    def counting():
        calls.append(1)
        return build()

    monkeypatch.setattr(_alanine, "_build_system", counting)
    eng = OpenMMEngine.alanine_dipeptide()
    assert len(calls) == 1
    _alanine._build_simulation("Reference", 0)
    assert len(calls) == 2
    settings = _alanine._SETTINGS
    assert eng.temperature == settings["temperature_K"]
    assert eng.friction == settings["friction_per_ps"]
    assert eng.timestep == settings["timestep_fs"]
    assert eng.steps_per_frame == settings["steps_per_frame"]
    assert eng.frame_interval == pytest.approx(1.0)
    forces = sorted(type(f).__name__ for f in eng.system.getForces())
    assert "GBSAOBCForce" in forces and "NonbondedForce" in forces
    assert eng.system.getNumConstraints() == 12  # every bond to hydrogen


def _energy(engine, traj):
    integrator = openmm.VerletIntegrator(0.001)
    context = openmm.Context(engine.system, integrator)
    context.setPositions(traj.xyz[0].astype(float) * unit.nanometer)
    energy = context.getState(getEnergy=True).getPotentialEnergy()
    return energy.value_in_unit(unit.kilojoule_per_mole)


def test_minimize_lowers_the_energy_and_copies():
    raw = alanine_dipeptide_structure(minimize=False)
    before = raw.xyz.copy()
    eng = OpenMMEngine.alanine_dipeptide()
    low = eng.minimize(raw)
    assert _energy(eng, low) < _energy(eng, raw) - 10
    np.testing.assert_array_equal(raw.xyz, before)
    np.testing.assert_allclose(low.xyz, alanine_dipeptide_structure().xyz, atol=1e-4)


def _argon_pair():
    system = openmm.System()
    box = 2.0
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box, 0, 0), openmm.Vec3(0, box, 0), openmm.Vec3(0, 0, box)
    )
    force = openmm.NonbondedForce()
    force.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    force.setCutoffDistance(0.9)
    for _ in range(2):
        system.addParticle(39.9)
        force.addParticle(0.0, 0.34, 0.99)
    system.addForce(force)
    top = md.Topology()
    chain = top.add_chain()
    for _ in range(2):
        top.add_atom("AR", md.element.argon, top.add_residue("AR", chain))
    start = md.Trajectory(
        np.array([[[0.5, 0.5, 0.5], [0.9, 0.5, 0.5]]], np.float32), top
    )
    start.unitcell_vectors = np.eye(3, dtype=np.float32)[None] * box
    return system, top, start


def test_periodic_system_records_the_box():
    system, top, start = _argon_pair()
    eng = OpenMMEngine(
        system, top, temperature=120, timestep=5, steps_per_frame=10, random_state=0
    )
    seg = eng.run(start, 3, verbose=False)[0]
    assert seg.n_frames == 4
    np.testing.assert_allclose(
        seg.unitcell_vectors, np.broadcast_to(np.eye(3) * 2.0, (4, 3, 3))
    )


def test_openmm_topology_is_accepted():
    system, topology, _ = _alanine._build_system()
    eng = OpenMMEngine(system, topology)
    assert eng.topology.n_atoms == 22 and "22 atoms" in repr(eng)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"system": "system"}, TypeError, "system must be an openmm.System"),
        ({"topology": "top"}, TypeError, "topology must be an openmm.app.Topology"),
        ({"topology": "argon"}, ValueError, "topology has 2 atoms but system has 22"),
        ({"temperature": -1.0}, ValueError, "temperature must be a finite float"),
        ({"temperature": "300"}, TypeError, "temperature must be a finite float"),
        ({"friction": -0.1}, ValueError, "friction"),
        ({"timestep": 0}, ValueError, "timestep"),
        ({"steps_per_frame": 0}, ValueError, "steps_per_frame must be an int >= 1"),
        ({"steps_per_frame": 2.5}, TypeError, "steps_per_frame must be an int"),
        ({"steps_per_frame": 2**31}, ValueError, "at most"),
        ({"platform": "Nope"}, ValueError, "platform must be the name of an OpenMM"),
        ({"platform_properties": {"Threads": 1}}, TypeError, "platform_properties"),
        ({"random_state": -1}, ValueError, "random_state must be None or an int"),
        ({"random_state": 2**32}, ValueError, r"random_state must be None or an int"),
        ({"random_state": True}, TypeError, "random_state must be None or an int"),
        ({"random_state": 1.0}, TypeError, "random_state must be None or an int"),
    ],
)
def test_bad_engine_arguments(kwargs, error, match):
    system, topology, _ = _alanine._build_system()
    params = {"system": system, "topology": topology, **kwargs}
    if params["topology"] == "argon":
        params["topology"] = _argon_pair()[1]
    with pytest.raises(error, match=match):
        OpenMMEngine(params.pop("system"), params.pop("topology"), **params)


def test_bad_run_arguments(start, tmp_path):
    eng = engine()
    with pytest.raises(TypeError, match="starts must be an mdtraj.Trajectory"):
        eng.run(start.xyz, 3)
    with pytest.raises(
        ValueError, match="starts has 2 atoms; the engine's system has 22"
    ):
        eng.run(_argon_pair()[2], 3)
    with pytest.raises(ValueError, match="starts has no frames"):
        eng.run(start[[]], 3)
    with pytest.raises(ValueError, match="n_frames must be an int >= 1"):
        eng.run(start, 0)
    with pytest.raises(TypeError, match="first_segment must be an int"):
        eng.run(start, 3, first_segment=None)
    with pytest.raises(TypeError, match="out must be a str or path-like"):
        eng.run(start, 3, out=3)
    with pytest.raises(ValueError, match="tolerance"):
        eng.minimize(start, tolerance=0)
    with pytest.raises(TypeError, match="minimize must be a bool"):
        alanine_dipeptide_structure(minimize="yes")


def test_blown_up_segment_is_reported(start):
    far = md.Trajectory(start.xyz.copy(), start.topology)
    far.xyz[0, 1] = far.xyz[0, 0] + 1e-4  # two atoms on top of each other
    with pytest.raises(RuntimeError, match="segment 0"):
        engine(random_state=0).run(far, 3, verbose=False)


def test_progress_output(start, capsys):
    engine(random_state=0).run(start, 2, verbose=True)
    out = capsys.readouterr()
    assert "OpenMM: 1 segment(s) x 2 frames" in out.out and "ns of MD" in out.out
