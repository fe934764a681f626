"""Alanine dipeptide molecular dynamics, generated with OpenMM and cached.

The system is built from OpenMM's own force-field files and a structure constructed
here, so nothing beyond OpenMM is needed (no prmtop files, no openmmtools).
"""

import hashlib
import json
import numbers
import os
import pickle
import platform as _platform
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .._data import check_fits_in_memory, check_int
from .._io import atomic_path

# Bump when the generated data would change for the same arguments (system,
# integrator, seeding, file layout): the version is part of the cache key.
# Version 2: random_state r seeds OpenMM with r + 1 (OpenMM takes 0 as "choose a
# seed"), so every random_state, 0 included, reproduces its data.
_FORMAT_VERSION = 2

# OpenMM seeds are C ints; random_state + 1 must fit.
_MAX_RANDOM_STATE = 2**31 - 2

# OpenMM's Integrator.step takes its number of steps as a C int.
_MAX_STEPS = 2**31 - 1

DEFAULT_N_FRAMES = 25_000

# Settings that define the physics; all of them enter the cache key.
_SETTINGS = {
    "forcefield": ["amber99sbildn.xml", "amber99_obc.xml"],
    "implicit_solvent": "OBC2 (OpenMM GBSAOBCForce, amber99_obc.xml)",
    "nonbonded_method": "NoCutoff",
    "constraints": "HBonds",
    "integrator": "LangevinMiddleIntegrator",
    "temperature_K": 300.0,
    "friction_per_ps": 1.0,
    "timestep_fs": 2.0,
    "steps_per_frame": 500,
    "equilibration_steps": 50_000,
}

_PLATFORMS = ("Reference", "CPU")

# ACE-ALA-NME in the extended conformation of AMBER's tleap residue templates
# (L-alanine), shipped as package data; minimised and equilibrated before any frame
# is saved.
_PDB_FILE = "alanine-dipeptide.pdb"


def get_data_home(data_home=None):
    """Return the sklss cache directory, creating it if needed.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit directory. ``None`` uses the ``SKLSS_DATA`` environment variable if
        set, otherwise ``$XDG_CACHE_HOME/sklss`` (``~/.cache/sklss`` when
        ``XDG_CACHE_HOME`` is unset).

    Returns
    -------
    pathlib.Path
        The directory (it exists on return).
    """
    if data_home is None:
        data_home = os.environ.get("SKLSS_DATA")
    if data_home is None:
        cache = os.environ.get("XDG_CACHE_HOME") or Path("~", ".cache")
        data_home = Path(cache) / "sklss"
    if not isinstance(data_home, str | os.PathLike):
        raise TypeError(
            "data_home must be None, a str or a path-like object; got "
            f"{type(data_home).__name__}."
        )
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_arguments(n_frames, random_state, platform):
    check_int(n_frames, "n_frames", 2)
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            "random_state must be an int (it is part of the cache key, so the data "
            f"can be found again); got {random_state!r} of type "
            f"{type(random_state).__name__}."
        )
    if not 0 <= random_state <= _MAX_RANDOM_STATE:
        raise ValueError(
            f"random_state must be an int in [0, {_MAX_RANDOM_STATE}]; got "
            f"{random_state}."
        )
    if platform not in _PLATFORMS:
        raise ValueError(
            f"platform must be one of {list(_PLATFORMS)}; got {platform!r}."
        )
    return int(n_frames), int(random_state)


def _openmm_seed(random_state):
    """The OpenMM seed of ``random_state``: never 0, which OpenMM takes as "random"."""
    return int(random_state) + 1


def _cache_path(data_home, n_frames, seed):
    key = json.dumps(
        {"settings": _SETTINGS, "version": _FORMAT_VERSION}, sort_keys=True
    ).encode()
    digest = hashlib.sha256(key).hexdigest()[:10]
    name = f"alanine_dipeptide_n{n_frames}_seed{seed}_{digest}.npz"
    return Path(data_home) / "alanine_dipeptide" / name


def _openmm_topology_and_positions():
    from importlib.resources import files

    from openmm import app

    with files("sklss.datasets").joinpath("data", _PDB_FILE).open() as fh:
        pdb = app.PDBFile(fh)
    return pdb.topology, pdb.positions


def _build_system():
    """The alanine dipeptide system, its topology and its starting positions.

    The one builder of the physics of :func:`load_alanine_dipeptide`; also used by
    :meth:`sklss.md.OpenMMEngine.alanine_dipeptide`, so that MD run there and the
    data set share force field, solvent model and constraints.

    Returns
    -------
    system : openmm.System
    topology : openmm.app.Topology
    positions : list of openmm.Vec3 (a Quantity in nm)
        The extended structure of the package data, not minimised.
    """
    from openmm import app

    topology, positions = _openmm_topology_and_positions()
    forcefield = app.ForceField(*_SETTINGS["forcefield"])
    # amber99_obc.xml adds OpenMM's built-in GBSAOBCForce (the OBC2 model); it runs
    # ~30x faster for this molecule than the CustomGBForce of implicit/obc2.xml.
    system = forcefield.createSystem(
        topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds
    )
    return system, topology, positions


def _build_simulation(platform, seed):
    import openmm
    from openmm import unit

    system, topology, positions = _build_system()
    integrator = openmm.LangevinMiddleIntegrator(
        _SETTINGS["temperature_K"] * unit.kelvin,
        _SETTINGS["friction_per_ps"] / unit.picosecond,
        _SETTINGS["timestep_fs"] * unit.femtosecond,
    )
    integrator.setRandomNumberSeed(_openmm_seed(seed))
    properties = {"Threads": "1"} if platform == "CPU" else {}
    context = openmm.Context(
        system, integrator, openmm.Platform.getPlatformByName(platform), properties
    )
    context.setPositions(positions)
    return context, integrator, topology


def _positions_nm(context):
    from openmm import unit

    state = context.getState(getPositions=True)
    return state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)


def _simulate(n_frames, seed, platform, verbose):
    """Minimise, equilibrate and run; return (xyz in nm, speed metadata)."""
    import openmm
    from openmm import unit

    context, integrator, _ = _build_simulation(platform, seed)
    openmm.LocalEnergyMinimizer.minimize(context)
    context.setVelocitiesToTemperature(
        _SETTINGS["temperature_K"] * unit.kelvin, _openmm_seed(seed)
    )
    integrator.step(_SETTINGS["equilibration_steps"])

    steps = _SETTINGS["steps_per_frame"]
    xyz = np.empty((n_frames, 22, 3), dtype=np.float32)
    frames = range(n_frames)
    if verbose:
        from tqdm.auto import tqdm

        frames = tqdm(frames, desc="alanine dipeptide MD", unit="ps")
    start = time.perf_counter()
    for i in frames:
        # Frame 0 is the equilibrated structure; frame i follows i ps later.
        if i:
            integrator.step(steps)
        xyz[i] = _positions_nm(context)
    elapsed = time.perf_counter() - start
    n_steps = (n_frames - 1) * steps
    steps_per_second = n_steps / elapsed if elapsed > 0 else float("nan")
    speed = {
        "platform": platform,
        "production_wall_time_s": elapsed,
        "steps_per_second": steps_per_second,
        "ns_per_day": steps_per_second * _SETTINGS["timestep_fs"] * 1e-6 * 86400,
    }
    return xyz, speed


def _metadata(n_frames, seed, speed):
    import openmm

    return {
        "name": "alanine dipeptide (ACE-ALA-NME), implicit solvent",
        "n_frames": n_frames,
        "random_state": seed,
        "frame_interval_ps": _SETTINGS["timestep_fs"]
        * _SETTINGS["steps_per_frame"]
        * 1e-3,
        "settings": _SETTINGS,
        "openmm_version": openmm.__version__,
        "cpu_count": os.cpu_count(),
        "machine": _platform.machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "format_version": _FORMAT_VERSION,
        **speed,
    }


def _write_atomically(path, xyz, metadata):
    """Write ``path`` via a temporary file so a partial file never looks complete."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, xyz=xyz, metadata=np.array(json.dumps(metadata)))
    # A human-readable copy of the metadata; the .npz stays the source of truth.
    with atomic_path(path.with_suffix(".json")) as tmp, open(tmp, "w") as f:
        json.dump(metadata, f, indent=2)


# What reading a truncated, corrupt or foreign file raises.
_READ_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    ValueError,
    KeyError,
    pickle.UnpicklingError,
    OSError,
)


def _read(path, n_frames):
    """Data and metadata of a cache file; ``ValueError`` if it is not complete."""
    with np.load(path, allow_pickle=False) as data:
        xyz, metadata = data["xyz"], json.loads(str(data["metadata"]))
    if xyz.shape != (n_frames, 22, 3) or not np.all(np.isfinite(xyz)):
        raise ValueError(
            f"expected finite coordinates of shape ({n_frames}, 22, 3); got an "
            f"array of shape {xyz.shape}"
        )
    return xyz, metadata


def _openmm_available():
    try:
        import openmm  # noqa: F401
    except ImportError:
        return False
    return True


def _generate(path, n_frames, seed, platform, verbose):
    if not _openmm_available():
        raise ImportError(
            "Generating alanine dipeptide data needs OpenMM: pip install "
            "'sklss[md]' (or conda install -c conda-forge openmm)."
        )
    xyz, speed = _simulate(n_frames, seed, platform, verbose)
    metadata = _metadata(n_frames, seed, speed)
    _write_atomically(path, xyz, metadata)
    return xyz, metadata


def _load_or_generate(path, n_frames, seed, platform, force, verbose):
    """Read the cache file, generating it (again) when missing, forced or corrupt.

    Runs under the cache file's lock.
    """
    if force or not path.exists():
        return _generate(path, n_frames, seed, platform, verbose)
    try:
        return _read(path, n_frames)
    except _READ_ERRORS as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if not _openmm_available():
        raise ValueError(
            f"The cached alanine dipeptide data at {str(path)!r} are truncated or "
            f"corrupt ({problem}) and cannot be regenerated without OpenMM. Install "
            "OpenMM and call load_alanine_dipeptide again with force=True to repair "
            "the file, or delete it."
        )
    warnings.warn(
        f"The cached alanine dipeptide data at {str(path)!r} are truncated or "
        f"corrupt ({problem}); regenerating them.",
        UserWarning,
        stacklevel=3,
    )
    return _generate(path, n_frames, seed, platform, verbose)


def _to_mdtraj(xyz, metadata):
    import mdtraj as md

    topology = md.Topology.from_openmm(_openmm_topology_and_positions()[0])
    time_ps = np.arange(len(xyz)) * metadata["frame_interval_ps"]
    return md.Trajectory(xyz, topology, time=time_ps)


def load_alanine_dipeptide(
    n_frames=DEFAULT_N_FRAMES,
    *,
    data_home=None,
    random_state=0,
    platform="Reference",
    force=False,
    verbose=False,
    return_metadata=False,
):
    """Load (generating and caching on first use) an alanine dipeptide MD trajectory.

    Alanine dipeptide (ACE-ALA-NME, 22 atoms) with the AMBER ff99SB-ILDN force field
    and OBC2 generalized-Born implicit solvent (OpenMM's ``amber99sbildn.xml`` and
    ``amber99_obc.xml``), no cutoff, bonds to hydrogen constrained, Langevin
    dynamics (``LangevinMiddleIntegrator``) at 300 K with 1/ps friction and a 2 fs
    step. The structure is energy-minimised and equilibrated for 100 ps; then a
    frame is saved every 1 ps. Requires OpenMM (the ``md`` extra) only when the data
    are not cached yet.

    Parameters
    ----------
    n_frames : int, default=25000
        Number of frames (1 ps apart, so ``n_frames - 1`` ps of dynamics). The
        default, 25 ns, took about 9 minutes to generate on a busy 2-core machine
        (OpenMM's Reference platform ran 24,000 steps/s there, 40,000 when idle).
    data_home : str or path-like, default=None
        Cache directory; see :func:`get_data_home` (``SKLSS_DATA`` environment
        variable, else ``~/.cache/sklss``). Files go to its ``alanine_dipeptide``
        subdirectory.
    random_state : int in [0, 2**31 - 2], default=0
        Seed of the initial velocities and the Langevin noise (OpenMM is seeded with
        ``random_state + 1``: OpenMM takes a seed of 0 as "choose one at random").
        Part of the cache key, with ``n_frames`` and the physical settings: the same
        arguments give the same data on every machine and platform, up to
        round-off.
    platform : {"Reference", "CPU"}, default="Reference"
        OpenMM platform used when generating. Not part of the cache key: data from
        either platform are statistically equivalent (the trajectories differ in
        round-off). For this 22-atom system the single-threaded ``Reference``
        platform measured several times faster than ``CPU`` (thread overhead).
    force : bool, default=False
        Regenerate even if cached data exist.
    verbose : bool, default=False
        Show a progress bar while generating.
    return_metadata : bool, default=False
        Also return a dict describing the run: the settings, OpenMM version, the
        platform used, and the measured MD speed (``steps_per_second``,
        ``ns_per_day``, ``production_wall_time_s``) for cost comparisons.

    Returns
    -------
    traj : mdtraj.Trajectory
        All 22 atoms with topology; coordinates in nm, ``traj.time`` in ps starting
        at 0.
    metadata : dict
        Only when ``return_metadata`` is true.

    Raises
    ------
    TypeError
        ``n_frames`` or ``random_state`` is not an int (``bool`` is refused), or
        ``data_home`` is not a path.
    ValueError
        ``n_frames < 2``, ``random_state`` is out of range, ``platform`` is
        unknown, the data would not fit in memory, or the cached file is truncated
        or corrupt and OpenMM is not installed to regenerate it (the message gives
        its path; ``force=True`` with OpenMM repairs it).
    ImportError
        The data are not cached and OpenMM is not installed.

    Warns
    -----
    UserWarning
        The cached file is truncated or corrupt; it is regenerated.

    Notes
    -----
    The data are first written to a temporary file in the cache directory and then
    renamed (:func:`os.replace`), so an interrupted generation never leaves a file
    that would be mistaken for complete data. The metadata are also written next to
    the data as a ``.json`` file for reading by eye.

    Callers that ask for the same data at the same time (threads or processes) are
    serialised by a lock file next to the data (``<name>.npz.lock``, which stays
    there): the first generates, the others wait and then read the cache.

    Examples
    --------
    >>> from sklss.datasets import load_alanine_dipeptide
    >>> traj = load_alanine_dipeptide(n_frames=20)  # doctest: +SKIP
    >>> traj.n_atoms, traj.n_frames  # doctest: +SKIP
    (22, 20)
    """
    from filelock import FileLock

    n_frames, seed = _check_arguments(n_frames, random_state, platform)
    # The file, the array read from it and the mdtraj copy of it.
    check_fits_in_memory(3 * n_frames * 22 * 3 * 4, {"n_frames": n_frames})
    path = _cache_path(get_data_home(data_home), n_frames, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(path.with_name(path.name + ".lock")):
        xyz, metadata = _load_or_generate(
            path, n_frames, seed, platform, force, verbose
        )
    metadata["path"] = str(path)
    traj = _to_mdtraj(xyz, metadata)
    return (traj, metadata) if return_metadata else traj


def measure_md_speed(n_steps=5000, *, platform="Reference", random_state=0):
    """Time OpenMM on the alanine dipeptide system on this machine.

    Parameters
    ----------
    n_steps : int, default=5000
        Number of 2 fs steps timed (after minimisation and 500 warm-up steps).
    platform : {"Reference", "CPU"}, default="Reference"
        OpenMM platform.
    random_state : int in [0, 2**31 - 2], default=0
        Seed of velocities and Langevin noise (OpenMM gets ``random_state + 1``, as
        in :func:`load_alanine_dipeptide`).

    Returns
    -------
    dict
        ``steps_per_second``, ``ns_per_day`` and ``platform``.

    Raises
    ------
    TypeError
        ``n_steps`` or ``random_state`` is not an int.
    ValueError
        ``n_steps`` is not in ``[1, 2**31 - 1]``, ``random_state`` is out of range
        or ``platform`` is unknown.
    """
    n_steps = check_int(n_steps, "n_steps", 1)
    if n_steps > _MAX_STEPS:
        raise ValueError(
            f"n_steps must be at most {_MAX_STEPS} (OpenMM counts steps in a C "
            f"int); got {n_steps}."
        )
    _, seed = _check_arguments(2, random_state, platform)
    import openmm
    from openmm import unit

    context, integrator, _ = _build_simulation(platform, seed)
    openmm.LocalEnergyMinimizer.minimize(context)
    context.setVelocitiesToTemperature(
        _SETTINGS["temperature_K"] * unit.kelvin, _openmm_seed(seed)
    )
    integrator.step(500)
    start = time.perf_counter()
    integrator.step(int(n_steps))
    context.getState(getPositions=True)
    steps_per_second = n_steps / (time.perf_counter() - start)
    return {
        "platform": platform,
        "steps_per_second": steps_per_second,
        "ns_per_day": steps_per_second * _SETTINGS["timestep_fs"] * 1e-6 * 86400,
    }
