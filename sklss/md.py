"""Molecular dynamics with OpenMM: independent segments started from chosen frames.

:class:`OpenMMEngine` runs Langevin dynamics of an OpenMM system from a set of
starting structures, one independent segment per structure, and returns the
segments as :class:`mdtraj.Trajectory` objects, ready for the featurisers and the
simulators of sklss. It is the MD side of adaptive sampling
(:mod:`sklss.adaptive`): the simulator chooses where to start, the engine runs
there.
"""

import json
import time

import numpy as np

from ._data import check_bool, check_int, check_real, check_seed
from ._io import atomic_path, check_path

__all__ = ["OpenMMEngine", "alanine_dipeptide_structure"]

# OpenMM seeds are C ints; 0 means "choose a seed at random".
_MAX_SEED = 2**31 - 1
# OpenMM's Integrator.step takes its number of steps as a C int.
_MAX_STEPS = 2**31 - 1

_TOPOLOGY_FILE = "topology.pdb"
_SETTINGS_FILE = "engine.json"
# Frame 0 of a segment on disk is the start it continues from (TRR files store
# float32 nm, as mdtraj does); a tolerance, not equality, for files written by
# other tools.
_START_TOLERANCE_NM = 1e-3


class _SegmentFailed(RuntimeError):
    """A segment whose dynamics failed (reported with its index by ``run``)."""


def segment_file(index):
    """File name of segment ``index`` in an output directory."""
    return f"segment_{index:05d}.trr"


def _segment_seeds(root, index):
    """OpenMM seeds (velocities, Langevin noise) of segment ``index``: never 0."""
    state = np.random.SeedSequence(root, spawn_key=(index,)).generate_state(
        2, dtype=np.uint64
    )
    return tuple(int(s % _MAX_SEED) + 1 for s in state)


def _import_openmm():
    try:
        import openmm
    except ImportError:
        raise ImportError(
            "Running MD needs OpenMM: pip install 'sklss[md]' (or conda install -c "
            "conda-forge openmm)."
        ) from None
    return openmm


def _md_topology(topology):
    import mdtraj as md
    from openmm import app

    if isinstance(topology, md.Topology):
        return topology.copy()
    if isinstance(topology, app.Topology):
        return md.Topology.from_openmm(topology)
    raise TypeError(
        "topology must be an openmm.app.Topology or an mdtraj.Topology; got "
        f"{type(topology).__name__}."
    )


def _check_platform(platform):
    import openmm

    names = [
        openmm.Platform.getPlatform(i).getName()
        for i in range(openmm.Platform.getNumPlatforms())
    ]
    if not isinstance(platform, str) or platform not in names:
        raise ValueError(
            f"platform must be the name of an OpenMM platform available here, one "
            f"of {names}; got {platform!r}."
        )
    return platform


def _check_properties(properties):
    if properties is None:
        return {}
    if not isinstance(properties, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in properties.items()
    ):
        raise TypeError(
            "platform_properties must be None or a dict of str to str, such as "
            f"{{'Threads': '1'}}; got {properties!r}."
        )
    return dict(properties)


class OpenMMEngine:
    """Langevin dynamics of an OpenMM system in independent segments.

    Every segment starts from a given structure with fresh Maxwell-Boltzmann
    velocities and its own Langevin noise, and records a frame every
    ``steps_per_frame`` steps (OpenMM's ``LangevinMiddleIntegrator``).

    Parameters
    ----------
    system : openmm.System
        The physics: forces, constraints, masses. Never modified.
    topology : openmm.app.Topology or mdtraj.Topology
        Its atoms, in the order of the system's particles; the topology of the
        returned trajectories.
    temperature : float, default=300.0
        Temperature of the thermostat and of the initial velocities, in K.
    friction : float, default=1.0
        Langevin friction coefficient, in 1/ps.
    timestep : float, default=2.0
        Integration time step, in fs.
    steps_per_frame : int, default=500
        Integration steps between recorded frames (500 steps of 2 fs: a frame
        every ps).
    platform : str, default="Reference"
        OpenMM platform ("Reference", "CPU", "CUDA", "OpenCL", when available).
        For a molecule of a few dozen atoms the single-threaded Reference platform
        is the fastest on CPUs.
    platform_properties : dict of str to str or None, default=None
        Platform properties, such as ``{"Threads": "1"}`` for "CPU".
    random_state : int in [0, 2**32 - 1] or None, default=None
        Seeds every segment: segment ``i`` of a run gets OpenMM seeds derived from
        ``(random_state, first_segment + i)`` (see :meth:`run`), never 0 (which
        OpenMM takes as "choose one"), so 0 is a seed like any other. None draws
        fresh seeds in every run.

    Attributes
    ----------
    frame_interval : float
        Time between recorded frames, in ps.
    md_time_ns_ : float
        MD simulated by this engine so far, in ns (segments read back from an
        output directory do not count).
    last_run_ : dict or None
        What the last :meth:`run` did: ``n_segments``, ``n_simulated``,
        ``n_read`` (segments found on disk), ``md_time_ns`` (simulated),
        ``wall_time_s`` and ``ns_per_day`` (of the simulated segments).

    See Also
    --------
    sklss.adaptive.AdaptiveSampler : chooses where the engine runs next.
    sklss.datasets.load_alanine_dipeptide : a long run of the same alanine
        dipeptide system as :meth:`alanine_dipeptide`.

    Notes
    -----
    Each segment gets a new integrator and context, because OpenMM reads an
    integrator's seed only when a context is created. The starting positions are
    made to satisfy the system's constraints (``Context.applyConstraints``) before
    the velocities are drawn; frame 0 of every segment is the start as given.

    Examples
    --------
    >>> from sklss.md import OpenMMEngine, alanine_dipeptide_structure
    >>> engine = OpenMMEngine.alanine_dipeptide(random_state=0)  # doctest: +SKIP
    >>> start = alanine_dipeptide_structure()  # doctest: +SKIP
    >>> segments = engine.run(start, n_frames=10, verbose=False)  # doctest: +SKIP
    >>> len(segments), segments[0].n_frames  # doctest: +SKIP
    (1, 11)
    """

    def __init__(
        self,
        system,
        topology,
        *,
        temperature=300.0,
        friction=1.0,
        timestep=2.0,
        steps_per_frame=500,
        platform="Reference",
        platform_properties=None,
        random_state=None,
    ):
        openmm = _import_openmm()
        if not isinstance(system, openmm.System):
            raise TypeError(
                f"system must be an openmm.System; got {type(system).__name__}."
            )
        top = _md_topology(topology)
        if top.n_atoms != system.getNumParticles():
            raise ValueError(
                f"topology has {top.n_atoms} atoms but system has "
                f"{system.getNumParticles()} particles; they must describe the "
                "same atoms in the same order."
            )
        self.system = system
        self.topology = top
        self.temperature = check_real(
            temperature, "temperature", low=0.0, closed="neither"
        )
        self.friction = check_real(friction, "friction", low=0.0)
        self.timestep = check_real(timestep, "timestep", low=0.0, closed="neither")
        self.steps_per_frame = check_int(steps_per_frame, "steps_per_frame", 1)
        if self.steps_per_frame > _MAX_STEPS:
            raise ValueError(
                f"steps_per_frame must be at most {_MAX_STEPS} (OpenMM counts steps "
                f"in a C int); got {self.steps_per_frame}."
            )
        self.platform = _check_platform(platform)
        self.platform_properties = _check_properties(platform_properties)
        self.random_state = check_seed(
            random_state, reason="segment seeds are derived from it and recorded"
        )
        self.md_time_ns_ = 0.0
        self.last_run_ = None

    @classmethod
    def alanine_dipeptide(cls, **kwargs):
        """An engine for the alanine dipeptide system of the cached data set.

        The system of :func:`sklss.datasets.load_alanine_dipeptide`: AMBER
        ff99SB-ILDN with OBC2 implicit solvent, no cutoff, bonds to hydrogen
        constrained; by default the data set's integrator settings too (300 K,
        1/ps, 2 fs, a frame every 500 steps = 1 ps). The system comes from the
        data set's own builder, so MD from this engine and the cached data set
        share their physics.

        Parameters
        ----------
        **kwargs
            Any keyword argument of :class:`OpenMMEngine` but ``system`` and
            ``topology`` (``random_state``, ``platform``, ``steps_per_frame``...).

        Returns
        -------
        OpenMMEngine
        """
        from .datasets._alanine import _SETTINGS, _build_system

        _import_openmm()
        system, topology, _ = _build_system()
        params = {
            "temperature": _SETTINGS["temperature_K"],
            "friction": _SETTINGS["friction_per_ps"],
            "timestep": _SETTINGS["timestep_fs"],
            "steps_per_frame": _SETTINGS["steps_per_frame"],
        }
        params.update(kwargs)
        return cls(system, topology, **params)

    @property
    def frame_interval(self):
        """Time between recorded frames, in ps."""
        return self.steps_per_frame * self.timestep * 1e-3

    def __repr__(self):
        return (
            f"OpenMMEngine({self.topology.n_atoms} atoms, {self.temperature:g} K, "
            f"friction {self.friction:g}/ps, {self.timestep:g} fs, "
            f"{self.steps_per_frame} steps/frame, platform={self.platform!r}, "
            f"random_state={self.random_state!r})"
        )

    # -- checks ----------------------------------------------------------------------

    def _check_structures(self, structures, name):
        import mdtraj as md

        from ._molecules import _check_md

        if not isinstance(structures, md.Trajectory):
            raise TypeError(
                f"{name} must be an mdtraj.Trajectory holding one frame per "
                f"structure; got {type(structures).__name__}."
            )
        _check_md(structures, name)
        if structures.n_atoms != self.topology.n_atoms:
            raise ValueError(
                f"{name} has {structures.n_atoms} atoms; the engine's system has "
                f"{self.topology.n_atoms}."
            )
        return structures

    def _settings(self):
        """What defines the physics of the segments in an output directory."""
        return {
            "n_atoms": self.topology.n_atoms,
            "temperature_K": self.temperature,
            "friction_per_ps": self.friction,
            "timestep_fs": self.timestep,
            "steps_per_frame": self.steps_per_frame,
        }

    def _prepare_out(self, out, starts):
        out = check_path(out, "out")
        if out.exists() and not out.is_dir():
            raise ValueError(f"out must be a directory; {str(out)!r} is a file.")
        out.mkdir(parents=True, exist_ok=True)
        settings_path = out / _SETTINGS_FILE
        settings = self._settings()
        if settings_path.exists():
            with open(settings_path) as fh:
                earlier = json.load(fh)
            differ = {
                k: (earlier.get(k), v)
                for k, v in settings.items()
                if earlier.get(k) != v
            }
            if differ:
                changes = ", ".join(
                    f"{k}: {a!r} there, {b!r} now" for k, (a, b) in differ.items()
                )
                raise ValueError(
                    f"out={str(out)!r} holds segments of other MD settings "
                    f"({changes}); use another directory or delete it."
                )
        else:
            with atomic_path(settings_path) as tmp, open(tmp, "w") as fh:
                json.dump(settings, fh, indent=2)
        topology_path = out / _TOPOLOGY_FILE
        if not topology_path.exists():
            with atomic_path(topology_path) as tmp:
                starts[0].save_pdb(str(tmp))
        return out

    # -- MD --------------------------------------------------------------------------

    def _context(self, integrator):
        import openmm

        platform = openmm.Platform.getPlatformByName(self.platform)
        return openmm.Context(
            self.system, integrator, platform, self.platform_properties
        )

    def _set_structure(self, context, xyz, box):
        from openmm import unit

        if box is not None and self.system.usesPeriodicBoundaryConditions():
            context.setPeriodicBoxVectors(
                *(v * unit.nanometer for v in box.astype(float))
            )
        context.setPositions(unit.Quantity(xyz.astype(np.float64), unit.nanometer))

    def _run_segment(self, xyz, box, n_frames, seeds):
        """One segment from positions ``xyz`` (nm); ``(xyz, boxes)`` of its frames."""
        import openmm
        from openmm import unit

        integrator = openmm.LangevinMiddleIntegrator(
            self.temperature * unit.kelvin,
            self.friction / unit.picosecond,
            self.timestep * unit.femtosecond,
        )
        integrator.setRandomNumberSeed(seeds[1])
        context = self._context(integrator)
        try:
            self._set_structure(context, xyz, box)
            context.applyConstraints(integrator.getConstraintTolerance())
            context.setVelocitiesToTemperature(self.temperature * unit.kelvin, seeds[0])
            periodic = self.system.usesPeriodicBoundaryConditions()
            frames = np.empty((n_frames + 1, len(xyz), 3), dtype=np.float32)
            boxes = (
                np.empty((n_frames + 1, 3, 3), dtype=np.float32) if periodic else None
            )
            frames[0] = xyz
            if periodic:
                state = context.getState()
                boxes[0] = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(
                    unit.nanometer
                )
            for i in range(1, n_frames + 1):
                integrator.step(self.steps_per_frame)
                state = context.getState(getPositions=True)
                frames[i] = state.getPositions(asNumpy=True).value_in_unit(
                    unit.nanometer
                )
                if periodic:
                    boxes[i] = state.getPeriodicBoxVectors(asNumpy=True).value_in_unit(
                        unit.nanometer
                    )
        finally:
            del context, integrator
        if not np.all(np.isfinite(frames)):
            raise _SegmentFailed(
                "it produced non-finite coordinates (the simulation blew up); check "
                "the starting structure and the time step"
            )
        return frames, boxes

    def _trajectory(self, xyz, boxes):
        import mdtraj as md

        traj = md.Trajectory(
            xyz, self.topology, time=np.arange(len(xyz)) * self.frame_interval
        )
        if boxes is not None:
            traj.unitcell_vectors = boxes
        return traj

    def _read_segment(self, path, start, n_frames):
        import mdtraj as md

        try:
            traj = md.load_trr(str(path), top=self.topology)
        except (OSError, ValueError, IndexError) as exc:
            raise ValueError(
                f"The MD segment {str(path)!r} cannot be read ({type(exc).__name__}: "
                f"{exc}); delete it to run it again."
            ) from None
        if traj.n_frames != n_frames + 1:
            raise ValueError(
                f"The MD segment {str(path)!r} holds {traj.n_frames} frames, but "
                f"n_frames={n_frames} asks for {n_frames + 1} (the start included): "
                "it comes from another run. Use another output directory or delete "
                "the file."
            )
        deviation = float(np.abs(traj.xyz[0] - start.xyz[0]).max())
        if deviation > _START_TOLERANCE_NM:
            raise ValueError(
                f"The MD segment {str(path)!r} does not start from the structure "
                f"given for it (frame 0 differs by up to {deviation:.3g} nm): it "
                "comes from another run. Use another output directory or delete the "
                "file."
            )
        traj.time = np.arange(traj.n_frames) * self.frame_interval
        return traj

    def run(self, starts, n_frames, *, out=None, first_segment=0, verbose=True):
        """Run one independent segment from every frame of ``starts``.

        Parameters
        ----------
        starts : mdtraj.Trajectory
            One frame per segment, with the engine's atoms (positions in nm; a
            unit cell, when the system is periodic, is used as the segment's
            box). Not modified.
        n_frames : int
            Frames recorded after the start: each segment simulates
            ``n_frames * steps_per_frame`` steps and holds ``n_frames + 1``
            frames, frame 0 being its start.
        out : str, path-like or None, default=None
            Directory to write every segment to as soon as it is finished
            (``segment_00012.trr``, GROMACS TRR files of float32 positions in nm
            and times in ps, written atomically; with ``topology.pdb`` and the
            settings in ``engine.json``). A segment whose file exists is read
            instead of run again, so rerunning an interrupted call finishes it.
            With ``out``, the returned trajectories are the ones read back from
            the files, whether they were just simulated or found there.
        first_segment : int, default=0
            Index of the first segment: segment ``i`` of this call is number
            ``first_segment + i``, which names its file and, with the engine's
            ``random_state``, its seeds. Give each call its own range of indices
            (as :class:`~sklss.adaptive.AdaptiveSampler` does) so that no two
            segments share their noise.
        verbose : bool, default=True
            Show a progress bar and a summary line.

        Returns
        -------
        list of mdtraj.Trajectory
            One per start, in order, with ``time`` in ps from 0.

        Raises
        ------
        TypeError
            ``starts`` is not an mdtraj.Trajectory, ``n_frames`` or
            ``first_segment`` is not an int, or ``out`` is not a path.
        ValueError
            ``starts`` has no frames, non-finite coordinates or another number
            of atoms than the system; ``n_frames < 1``; a segment in ``out`` was
            written by another run (other settings, length or start) or cannot
            be read.
        RuntimeError
            A segment blew up (non-finite coordinates).
        """
        starts = self._check_structures(starts, "starts")
        n_frames = check_int(n_frames, "n_frames", 1)
        first_segment = check_int(first_segment, "first_segment", 0)
        if out is not None:
            out = self._prepare_out(out, starts)
        root = (
            np.random.SeedSequence().entropy
            if self.random_state is None
            else self.random_state
        )
        from tqdm.auto import tqdm

        results = []
        n_simulated = 0
        elapsed = 0.0
        segment_ns = n_frames * self.frame_interval * 1e-3
        with tqdm(
            total=starts.n_frames, desc="OpenMM", unit="segment", disable=not verbose
        ) as bar:
            for i in range(starts.n_frames):
                index = first_segment + i
                start = starts[i]
                path = None if out is None else out / segment_file(index)
                if path is not None and path.exists():
                    results.append(self._read_segment(path, start, n_frames))
                    bar.update()
                    continue
                box = (
                    None
                    if start.unitcell_vectors is None
                    else start.unitcell_vectors[0]
                )
                t0 = time.perf_counter()
                try:
                    xyz, boxes = self._run_segment(
                        start.xyz[0], box, n_frames, _segment_seeds(root, index)
                    )
                except Exception as exc:
                    import openmm

                    if not isinstance(exc, openmm.OpenMMException | _SegmentFailed):
                        raise
                    raise RuntimeError(
                        f"MD segment {index} (start frame {i}) failed: {exc}"
                    ) from exc
                elapsed += time.perf_counter() - t0
                n_simulated += 1
                self.md_time_ns_ += segment_ns
                traj = self._trajectory(xyz, boxes)
                if path is not None:
                    with atomic_path(path) as tmp:
                        traj.save_trr(str(tmp))
                    traj = self._read_segment(path, start, n_frames)
                results.append(traj)
                bar.update()
                bar.set_postfix(ns=f"{n_simulated * segment_ns:.3g}")
        md_ns = n_simulated * segment_ns
        self.last_run_ = {
            "n_segments": starts.n_frames,
            "n_simulated": n_simulated,
            "n_read": starts.n_frames - n_simulated,
            "md_time_ns": md_ns,
            "wall_time_s": elapsed,
            "ns_per_day": md_ns / elapsed * 86400 if elapsed > 0 else float("nan"),
        }
        if verbose:
            read = self.last_run_["n_read"]
            print(
                f"OpenMM: {n_simulated} segment(s) x {n_frames} frames, {md_ns:.4g} ns "
                f"of MD in {elapsed:.1f} s"
                + (
                    f" ({self.last_run_['ns_per_day']:.0f} ns/day)"
                    if n_simulated
                    else ""
                )
                + (f"; {read} read from {out}" if read else ""),
                flush=True,
            )
        return results

    def minimize(self, structures, *, tolerance=10.0, max_iterations=0):
        """Energy-minimise structures (OpenMM's ``LocalEnergyMinimizer``).

        Parameters
        ----------
        structures : mdtraj.Trajectory
            One frame per structure, with the engine's atoms. Not modified.
        tolerance : float, default=10.0
            Stop when the root-mean-square force is below this, in kJ/mol/nm.
        max_iterations : int, default=0
            Most iterations per structure; 0 runs until ``tolerance`` is met.

        Returns
        -------
        mdtraj.Trajectory
            The minimised structures, frame by frame.

        Raises
        ------
        TypeError
            ``structures`` is not an mdtraj.Trajectory, or a number is of the wrong
            type.
        ValueError
            ``structures`` is empty, not finite or has another number of atoms;
            ``tolerance <= 0`` or ``max_iterations < 0``.
        """
        import openmm
        from openmm import unit

        structures = self._check_structures(structures, "structures")
        tolerance = check_real(tolerance, "tolerance", low=0.0, closed="neither")
        max_iterations = check_int(max_iterations, "max_iterations", 0)
        xyz = np.empty_like(structures.xyz)
        for i in range(structures.n_frames):
            integrator = openmm.VerletIntegrator(self.timestep * unit.femtosecond)
            context = self._context(integrator)
            box = (
                None
                if structures.unitcell_vectors is None
                else structures.unitcell_vectors[i]
            )
            self._set_structure(context, structures.xyz[i], box)
            openmm.LocalEnergyMinimizer.minimize(context, tolerance, max_iterations)
            state = context.getState(getPositions=True)
            xyz[i] = state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)
            del context, integrator
        out = structures.slice(range(structures.n_frames), copy=True)
        out.xyz = xyz
        return out


def alanine_dipeptide_structure(*, minimize=True):
    """The extended structure of alanine dipeptide that the data set starts from.

    ACE-ALA-NME built from AMBER's residue templates (the package's starting
    structure of :func:`sklss.datasets.load_alanine_dipeptide`), with every atom.

    Parameters
    ----------
    minimize : bool, default=True
        Energy-minimise it in the system of :meth:`OpenMMEngine.alanine_dipeptide`
        first, as the data set does before its dynamics.

    Returns
    -------
    mdtraj.Trajectory
        One frame of 22 atoms, positions in nm.
    """
    import mdtraj as md
    from openmm import unit

    from .datasets._alanine import _build_system

    check_bool(minimize, "minimize")
    _import_openmm()
    _, topology, positions = _build_system()
    xyz = np.asarray(positions.value_in_unit(unit.nanometer), dtype=np.float32)
    traj = md.Trajectory(xyz[None], md.Topology.from_openmm(topology))
    if minimize:
        traj = OpenMMEngine.alanine_dipeptide().minimize(traj)
    return traj
