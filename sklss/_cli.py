"""The ``sklss`` command line."""

import argparse
import sys
from pathlib import Path

from ._version import __version__


def _demo(args):
    from ._demo import run_demo

    report = run_demo(
        args.out,
        args.system,
        n_frames=args.n_frames,
        data_home=args.data_home,
        lagtime=args.lagtime,
        n_components=args.n_components,
        generation_factor=args.generation_factor,
        size="tiny" if args.tiny else "full",
        random_state=args.seed,
        verbose=not args.quiet,
    )
    passed = report.get("passed")
    if passed is not None:
        print("validation checks:")
        for name, ok in passed.items():
            if name != "all":
                print(f"  {name:<18s} {'pass' if ok else 'FAIL'}")
    print(f"sklss {__version__}: demo written to {args.out} (report.json)")
    return 0


def _count_parameters(est):
    import torch

    total = 0
    for value in vars(est).values():
        if isinstance(value, torch.nn.Module):
            total += sum(p.numel() for p in value.parameters())
    return total


_SHOWN_PARAMETERS = (
    "lagtime",
    "n_components",
    "n_kernels",
    "hidden_layer_sizes",
    "activation",
    "noise_dim",
)


def _summary(est):
    """``Name(key=value, ...)``; the parts of a union, pipeline or FrameWise."""
    from ._framewise import FrameWise

    if hasattr(est, "transformer_list"):
        shown = ", ".join(f"{n}: {_summary(e)}" for n, e in est.transformer_list)
    elif hasattr(est, "steps"):
        shown = " -> ".join(_summary(e) for _, e in est.steps)
    elif isinstance(est, FrameWise):
        shown = _summary(getattr(est, "transformer_", est.transformer))
    else:
        params = est.get_params(deep=False)
        shown = ", ".join(
            f"{k}={params[k]!r}" for k in _SHOWN_PARAMETERS if k in params
        )
    return f"{type(est).__name__}({shown})"


def _count_all_parameters(est):
    parts = [e for _, e in getattr(est, "transformer_list", getattr(est, "steps", []))]
    return _count_parameters(est) + sum(_count_all_parameters(e) for e in parts)


def _describe(name, est):
    if est is None:
        return f"  {name:<11s} none"
    n = _count_all_parameters(est)
    weights = f", {n:,} weights" if n else ""
    return f"  {name:<11s} {_summary(est)}{weights}"


def _info(args):
    import warnings

    from . import LatentSpaceSimulator, read_manifest
    from ._io import check_simulator, file_sha256, load_estimator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = load_estimator(args.model, allow_pickle=args.allow_pickle)
    simulator = isinstance(est, LatentSpaceSimulator)
    if simulator:
        check_simulator(est, args.model)  # fitted and complete
    kind = "LatentSpaceSimulator" if simulator else type(est).__name__
    print(f"{args.model}: sklss {kind} (loaded with sklss {__version__})")
    try:
        manifest = read_manifest(args.model)
    except ValueError:  # a pickle, opened because --allow-pickle was given
        print("  format      pickle (opened with --allow-pickle: trusted files only)")
    else:
        versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
        print(f"  format      .sklss version {manifest['format_version']} (data only)")
        print(f"  saved with  {versions}")
    print(f"  sha256      {file_sha256(args.model)}")
    for w in caught:
        print(f"  warning: {w.message}")
    if simulator:
        _describe_simulator(est)
    else:
        _describe_estimator(est)
    return 0


def _describe_estimator(est):
    """What ``sklss info`` says about a network or an ensemble."""
    print(_describe("estimator", est))
    fitted = hasattr(est, "n_features_in_")
    if not fitted:
        print("  not fitted")
        return
    print(f"  dimensions  {est.n_features_in_} input features")
    if hasattr(est, "timescales_"):
        scales = ", ".join(f"{t:.4g}" for t in est.timescales_)
        print(f"  time scales {scales} (frames)")
    if hasattr(est, "n_epochs_"):
        capped = "" if getattr(est, "converged_", True) else " (capped)"
        print(f"  trained     {est.n_epochs_} epochs{capped}")
    if hasattr(est, "estimators_"):
        print(f"  models      {len(est.estimators_)}")


def _describe_simulator(sim):
    print(_describe("encoder", sim.encoder_))
    print(_describe("propagator", sim.propagator_))
    print(_describe("decoder", getattr(sim, "decoder_", None)))
    timestep = getattr(sim, "timestep_", sim.timestep)
    if timestep is None:
        print(f"  lag time    {sim.lagtime_} input frames (no time step recorded)")
    else:
        unit = getattr(sim, "time_unit_", None)
        named = f" {unit}" if unit else ""
        print(
            f"  lag time    {sim.lagtime_} input frames = "
            f"{sim.lagtime_ * timestep:g}{named} (time step {timestep:g}{named} per "
            "frame" + ("" if unit else ", unit not named") + ")"
        )
    n_outputs = getattr(sim, "n_outputs_", None)
    print(
        f"  dimensions  {sim.n_features_in_} features -> {sim.n_components_} latent"
        + (f" -> {n_outputs} outputs" if n_outputs else "")
    )
    coordinates = getattr(sim, "coordinates_", None)
    if coordinates is not None:
        top = coordinates.topology_
        print(f"  topology    {top.n_atoms} atoms, {top.n_residues} residues")
    print(f"  start pool  {len(sim.start_points_)} latent frames")


# Bytes per atom and frame of each structure format (generous: dcd stores float32
# coordinates, xtc compresses them, a pdb line is 81 bytes).
_FORMAT_BYTES = {"dcd": 12, "xtc": 12, "pdb": 81}


def _output_prefix(out):
    """The output prefix: ``--out`` as given (a trailing ``.npz`` is dropped)."""
    out = Path(out)
    return out.with_name(out.name[: -len(".npz")]) if out.name.endswith(".npz") else out


def _planned_files(prefix, n_trajectories, fmt, molecular):
    """The files a run writes, the manifest last."""
    files = [prefix.with_name(prefix.name + ".npz")]
    if molecular:
        files.append(prefix.with_name(f"{prefix.name}_topology.pdb"))
        width = len(str(n_trajectories - 1))
        files += [
            prefix.with_name(f"{prefix.name}_{i:0{width}d}.{fmt}")
            for i in range(n_trajectories)
        ]
    return files, prefix.with_name(prefix.name + ".manifest.json")


def _earlier_outputs(prefix):
    """Files of an earlier run with this prefix: its manifest, npz and structures."""
    import re

    pattern = re.compile(
        re.escape(prefix.name)
        + r"(\.npz|\.zarr|\.manifest\.json|_topology\.pdb|_\d+\.(dcd|xtc|pdb))"
    )
    if not prefix.parent.is_dir():
        return []
    return sorted(p for p in prefix.parent.iterdir() if pattern.fullmatch(p.name))


def _store_state(path):
    """Whether ``path`` holds a "complete" or "incomplete" sklss store (or None)."""
    from . import open_zarr_trajectories

    try:
        store = open_zarr_trajectories(path, allow_incomplete=True)
    except (ValueError, OSError, ImportError):
        return None
    return "complete" if store.complete else "incomplete"


def _check_removable(paths):
    """Refuse to replace a directory that is not a sklss trajectory store."""
    for path in paths:
        if path.is_dir() and _store_state(path) is None:
            raise ValueError(
                f"{path} is not a sklss trajectory store, so --overwrite leaves it "
                "alone; move it away or choose another --out."
            )


def _remove_outputs(paths):
    """Delete the outputs of an earlier run; a directory only if it is a store."""
    import shutil

    _check_removable(paths)
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _tree_sha256(directory):
    """A checksum of a directory: sha256 of its files' sorted paths and sha256s."""
    import hashlib

    from ._io import file_sha256

    digest = hashlib.sha256()
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    for path in files:
        relative = path.relative_to(directory).as_posix()
        digest.update(f"{relative}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest(), files


def _gib(n):
    return f"{n / 2**30:.2f} GiB"


def _check_resources(args, sim, prefix, molecular):
    """Refuse runs whose memory or disk needs exceed what is available."""
    n_frames = args.n_steps + 1
    n_decoded = -(-n_frames // args.decode_stride)
    has_decoder = getattr(sim, "decoder_", None) is not None
    n_out = getattr(sim, "n_outputs_", None) or 0
    latent = args.n_trajectories * n_frames * sim.n_components_ * 8
    configurations = args.n_trajectories * n_decoded * n_out * 8 if has_decoder else 0
    # The decoder's working copy doubles the configurations while decoding.
    memory = latent + 2 * configurations
    disk = latent + configurations
    if molecular:
        n_atoms = sim.coordinates_.topology_.n_atoms
        disk += args.n_trajectories * n_decoded * n_atoms * _FORMAT_BYTES[args.format]
    _check_bytes(memory, disk, prefix)


def _check_bytes(memory, disk, prefix):
    """Refuse a run that needs ``memory`` bytes of memory or writes ``disk``
    bytes beyond what is available."""
    import shutil

    from ._data import available_memory

    available = available_memory()
    if available is not None and memory > 0.8 * available:
        raise ValueError(
            f"This run needs about {_gib(memory)} of memory and {_gib(available)} is "
            "available. Reduce --n-steps or --n-trajectories, or raise "
            "--decode-stride (decode fewer frames)."
        )
    parent = prefix.parent if prefix.parent.exists() else Path(".")
    free = shutil.disk_usage(parent).free
    if disk > 0.95 * free:
        raise ValueError(
            f"This run writes about {_gib(disk)} and {parent} has {_gib(free)} free. "
            "Reduce --n-steps or --n-trajectories, raise --decode-stride, or choose "
            "another --out."
        )


def _spacing(sim):
    """How far apart generated frames are, in words."""
    timestep = getattr(sim, "timestep_", sim.timestep)
    lag = sim.lagtime_
    if timestep is None:
        return f"{lag} input frames apart"
    unit = getattr(sim, "time_unit_", None)
    unit = f" {unit}" if unit else " (in the unit of the model's time step)"
    return f"{lag * timestep:g}{unit} apart: {lag} input frames of {timestep:g}"


def _write_manifest(path, args, seed, timestep, files, time_unit=None):
    """``PREFIX.manifest.json``, written last: a run without one did not finish."""
    import json

    from ._io import atomic_path, file_sha256

    manifest = {
        "complete": True,
        "sklss_version": __version__,
        "model": str(args.model),
        "model_sha256": file_sha256(args.model),
        "n_steps": args.n_steps,
        "n_trajectories": args.n_trajectories,
        "seed": seed,
        "decode_stride": args.decode_stride,
        "timestep": timestep,
        "time_unit": time_unit,
        "files": files,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")


def _simulate(args):

    import numpy as np

    from ._io import atomic_path, file_sha256

    if args.scheduler is not None and not args.zarr:
        raise ValueError(
            "--scheduler applies only with --zarr (the cluster's workers write into "
            f"one Zarr store); got --scheduler {args.scheduler!r} without --zarr."
        )
    if args.n_steps < 1 or args.n_trajectories < 1 or args.decode_stride < 1:
        raise ValueError(
            "--n-steps, --n-trajectories and --decode-stride must be >= 1, got "
            f"{args.n_steps}, {args.n_trajectories} and {args.decode_stride}."
        )
    prefix = _output_prefix(args.out)
    try:  # before any work: the outputs must have somewhere to go
        prefix.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot use {str(prefix.parent)!r} as the output directory of --out: "
            f"{exc.strerror or exc}"
        ) from None
    earlier = _earlier_outputs(prefix)
    store = prefix.with_name(prefix.name + ".zarr")
    if args.zarr and store in earlier and _store_state(store) == "incomplete":
        # An interrupted --zarr run: the same command completes it.
        earlier.remove(store)
        if not args.overwrite:
            print(f"completing the interrupted run in {store}")
    if earlier and not args.overwrite:
        names = ", ".join(p.name for p in earlier[:5]) + (", ..." * (len(earlier) > 5))
        raise ValueError(
            f"Outputs of an earlier run exist in {prefix.parent}: {names}. Choose "
            "another --out, or pass --overwrite to replace them."
        )
    _check_removable(earlier)  # before any work
    from . import MDNPropagator
    from ._io import check_simulator, load_estimator

    est = load_estimator(
        args.model, allow_pickle=args.allow_pickle, device=args.device or "cpu"
    )
    if isinstance(est, MDNPropagator) and not args.zarr:
        return _simulate_propagator(args, est, prefix, earlier)
    sim = check_simulator(est, args.model)
    if args.start is not None:
        raise ValueError(
            "--start applies to propagator files (MDNPropagator); a simulator "
            "starts from frames of its training data."
        )
    if args.zarr:
        return _simulate_zarr(args, sim, prefix, store, earlier)
    molecular = (
        getattr(sim, "coordinates_", None) is not None
        and getattr(sim, "decoder_", None) is not None
    )
    _check_resources(args, sim, prefix, molecular)
    # The propagator's progress bar shows on long runs.
    if "verbose" in sim.propagator_.get_params():
        sim.propagator_.set_params(verbose=True)
    result = sim.sample(
        args.n_steps,
        n_trajectories=args.n_trajectories,
        random_state=args.seed,
        decode_stride=args.decode_stride,
    )
    files, manifest_path = _planned_files(
        prefix, result.n_trajectories, args.format, molecular
    )
    # The earlier run's files go first: nothing of it may pass for part of this one.
    _remove_outputs(earlier)
    npz, written = files[0], []
    if molecular:
        topology, structures = files[1], files[2:]
        first = result.to_mdtraj(0)
        with atomic_path(topology) as tmp:
            first[0].save_pdb(str(tmp))
        written.append(topology)
        for i, path in enumerate(structures):
            traj = first if i == 0 else result.to_mdtraj(i)
            with atomic_path(path) as tmp:
                traj.save(str(tmp))
            written.append(path)
    with atomic_path(npz) as tmp:
        arrays = {
            "latent": result.latent,
            "stride": result.stride,
            "timestep": result.timestep,
        }
        if result.configurations is not None:
            arrays["configurations"] = result.configurations
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    written.insert(0, npz)
    files = [
        {"name": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)}
        for p in written
    ]
    _write_manifest(
        manifest_path, args, args.seed, result.timestep, files, result.time_unit
    )
    print(
        f"generated {result.n_trajectories} x {args.n_steps + 1} frames "
        f"({_spacing(sim)})"
    )
    for path in [*written, manifest_path]:
        print(f"wrote {path}")
    return 0


def _connect(scheduler):
    """A dask.distributed client (and the cluster it started, or None)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "--scheduler needs dask.distributed: pip install 'sklss[distributed]'"
        ) from None
    if scheduler == "local":
        cluster = LocalCluster(threads_per_worker=1)
        return Client(cluster), cluster
    try:
        return Client(scheduler), None
    except (OSError, ValueError) as exc:
        raise OSError(
            f"cannot connect to the Dask scheduler at --scheduler {scheduler!r}: {exc}"
        ) from None


def _parse_start(text, width):
    """``--start`` as a float vector of the propagator's width."""
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(
            f"--start must be {width} numbers separated by commas; got {text!r}."
        ) from None
    if len(values) != width:
        raise ValueError(
            f"--start must hold {width} values (the propagator's latent width); "
            f"got {len(values)}: {text!r}."
        )
    return values


def _simulate_propagator(args, mdn, prefix, earlier):
    """``sklss simulate`` on a propagator file: latent trajectories from
    ``--start``, written as ``PREFIX.npz`` and the manifest."""
    import numpy as np

    from . import SimulationResult
    from ._io import atomic_path, file_sha256

    if args.start is None:
        raise ValueError(
            f"{args.model} holds an MDNPropagator, which has no frames to start "
            f"from: give --start with {mdn.n_features_in_} latent value(s), e.g. "
            f"--start {','.join(['0'] * mdn.n_features_in_)}."
        )
    start = _parse_start(args.start, mdn.n_features_in_)
    n_frames = args.n_steps + 1
    size = 8 * args.n_trajectories * n_frames * mdn.n_features_in_
    _check_bytes(size, size, prefix)
    if "verbose" in mdn.get_params():
        mdn.set_params(verbose=True)
    latent = mdn.sample(
        np.repeat([start], args.n_trajectories, axis=0),
        args.n_steps,
        random_state=args.seed,
    )
    lag = int(mdn.get_params().get("lagtime", 1))
    result = SimulationResult(
        latent, None, stride=lag, timestep=float(lag), decode_stride=1, coordinates=None
    )
    files, manifest_path = _planned_files(
        prefix, result.n_trajectories, args.format, False
    )
    _remove_outputs(earlier)
    npz = files[0]
    with atomic_path(npz) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, latent=latent, stride=lag, timestep=float(lag))
    entry = {"name": npz.name, "bytes": npz.stat().st_size, "sha256": file_sha256(npz)}
    _write_manifest(manifest_path, args, args.seed, float(lag), [entry])
    print(
        f"generated {args.n_trajectories} x {n_frames} latent frames ({lag} "
        "training frames apart)"
    )
    for path in (npz, manifest_path):
        print(f"wrote {path}")
    return 0


def _simulate_zarr(args, sim, prefix, store, earlier):
    """``sklss simulate --zarr``: generate into PREFIX.zarr, chunk by chunk."""
    import contextlib

    from . import sample_to_zarr

    _remove_outputs([p for p in earlier if p != store])
    client = cluster = None
    try:
        if args.scheduler is not None:
            client, cluster = _connect(args.scheduler)
            address = getattr(client.scheduler, "address", args.scheduler)
            print(f"generating on the Dask cluster at {address}")
        result = sample_to_zarr(
            sim,
            store,
            n_steps=args.n_steps,
            n_trajectories=args.n_trajectories,
            decode_stride=args.decode_stride,
            client=client,
            random_state=args.seed,
            overwrite=args.overwrite,
        )
    finally:
        for resource in (client, cluster):
            if resource is not None:
                with contextlib.suppress(Exception):
                    resource.close()
    digest, files = _tree_sha256(store)
    manifest_path = prefix.with_name(prefix.name + ".manifest.json")
    files = [
        {
            "name": store.name,
            "format": "zarr",
            "bytes": sum(p.stat().st_size for p in files),
            "n_files": len(files),
            "sha256": digest,
            "sha256_of": "the sorted lines '<path in the store>\\0<sha256 of the "
            "file>\\n' of every file in the store",
        }
    ]
    _write_manifest(
        manifest_path,
        args,
        result.attrs["seed"],
        result.timestep,
        files,
        result.attrs.get("time_unit"),
    )
    print(
        f"generated {result.n_trajectories} x {args.n_steps + 1} frames "
        f"({_spacing(sim)})"
    )
    for path in (store, manifest_path):
        print(f"wrote {path}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sklss",
        description="Molecular latent space simulators (SRV + MDN + cWGAN).",
    )
    parser.add_argument("--version", action="version", version=f"sklss {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="fit, generate and validate a latent space simulator end to end",
        description="Alanine dipeptide (OpenMM MD, cached): fit the full latent "
        "space simulator, generate synthetic trajectories 100x as long as the MD, "
        "and write trajectories, the model, figures and report.json to --out. "
        "four-well: the paper's 1-D four-well test of the MDN propagator.",
    )
    demo.add_argument("--out", default="sklss-demo", help="output directory")
    demo.add_argument(
        "--system",
        choices=("alanine-dipeptide", "four-well"),
        default="alanine-dipeptide",
        help="which demo to run (default: alanine-dipeptide)",
    )
    demo.add_argument(
        "--n-frames",
        type=int,
        default=None,
        help="MD frames (1 ps apart); default: the cached 25 ns data set",
    )
    demo.add_argument("--data-home", default=None, help="MD data cache directory")
    demo.add_argument(
        "--lagtime", type=int, default=None, help="frames; default: selected"
    )
    demo.add_argument(
        "--n-components",
        type=int,
        default=None,
        help="latent dimension, all of it SRV coordinates; default: the slow SRV "
        "coordinates plus principal components of the features for the decoder",
    )
    demo.add_argument(
        "--generation-factor",
        type=float,
        default=100.0,
        help="synthetic length / MD length (default 100)",
    )
    demo.add_argument(
        "--tiny",
        action="store_true",
        help="tiny networks and budgets (a smoke test; metrics meaningless)",
    )
    demo.add_argument(
        "--seed", type=int, default=0, help="seed of the data, training and sampling"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_demo)

    sim = sub.add_parser("simulate", help="generate trajectories from a saved model")
    sim.add_argument(
        "model",
        help="simulator (or MDN propagator, with --start) saved with sklss.save "
        "(.sklss)",
    )
    sim.add_argument(
        "--n-steps",
        type=int,
        required=True,
        help="propagator steps per trajectory (each one lag time of the model)",
    )
    sim.add_argument(
        "--n-trajectories", type=int, default=1, help="trajectories to generate"
    )
    sim.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed of the sampling (default: none; runs then differ)",
    )
    sim.add_argument(
        "--out",
        required=True,
        help="output prefix: PREFIX.npz (+ structures PREFIX_i.FORMAT), then "
        "PREFIX.manifest.json when the run is complete",
    )
    sim.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the outputs of an earlier run with the same prefix",
    )
    sim.add_argument(
        "--format",
        choices=("dcd", "xtc", "pdb"),
        default="dcd",
        help="structure files of molecular models (not with --zarr)",
    )
    sim.add_argument(
        "--decode-stride",
        type=int,
        default=1,
        help="decode every k-th latent frame (default: every frame)",
    )
    sim.add_argument(
        "--zarr",
        action="store_true",
        help="write one Zarr store PREFIX.zarr instead (generated chunk by chunk, "
        "any size; rerunning an interrupted run completes it; read it with "
        "sklss.open_zarr_trajectories)",
    )
    sim.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --zarr: generate on the Dask cluster whose scheduler is at "
        "ADDRESS (e.g. tcp://10.0.0.1:8786; the workers must see --out), or "
        "'local' for a cluster on this machine",
    )
    sim.add_argument(
        "--start",
        default=None,
        metavar="VALUES",
        help="for a propagator file (MDNPropagator): the latent start of every "
        "trajectory, comma-separated (e.g. 0.5 or 0.1,-0.3); simulators start "
        "from frames of their training data",
    )
    sim.add_argument("--device", default=None, help="cpu, cuda or auto")
    _allow_pickle_option(sim)
    sim.set_defaults(func=_simulate)

    _add_fit_parser(sub)

    info = sub.add_parser(
        "info", help="describe a saved simulator, network or ensemble"
    )
    info.add_argument("model", help="an estimator saved with sklss.save (.sklss)")
    _allow_pickle_option(info)
    info.set_defaults(func=_info)

    from .adaptive import add_cli_parser as add_adaptive

    add_adaptive(sub)
    return parser


def _fit(args):
    from ._fit_files import fit_from_files

    fit_from_files(args)
    return 0


def _add_fit_parser(sub):
    from ._fit_files import FEATURES, N_KERNELS

    fit = sub.add_parser(
        "fit",
        help="train a simulator from a topology and trajectory files",
        description="Featurise trajectory files chunk by chunk into a feature "
        "store (OUT with the suffix .features.zarr, reused by later runs), select "
        "the lag time and latent dimension from the SRV's implied time scales "
        "(unless given), train the SRV encoder and MDN propagator from the store "
        "and the cWGAN decoder on the decoder atoms, then save the model (OUT), "
        "print a validation summary and save it (OUT with the suffix "
        ".summary.json).",
    )
    fit.add_argument(
        "--top",
        default=None,
        help="topology file (PDB, PSF, PRMTOP, GRO...); needed for trajectory "
        "formats without one (DCD, XTC, TRR)",
    )
    fit.add_argument(
        "--traj",
        nargs="+",
        required=True,
        metavar="FILE",
        help="trajectory files or quoted glob patterns ('run*/traj.dcd'); each file "
        "is one trajectory",
    )
    fit.add_argument("--out", required=True, help="the model file to write (.sklss)")
    fit.add_argument(
        "--features",
        choices=FEATURES,
        default="torsions",
        help="input features: backbone phi/psi torsions (as sin and cos), "
        "distances between the --feature-atoms, or both (default: torsions)",
    )
    fit.add_argument(
        "--feature-atoms",
        default="name CA",
        help="mdtraj selection of the atoms whose pair distances are features "
        "(default: 'name CA')",
    )
    fit.add_argument(
        "--decoder-atoms",
        default="name CA",
        help="mdtraj selection of the atoms the decoder generates, or 'none' for "
        "a model without decoder (default: 'name CA')",
    )
    fit.add_argument(
        "--lagtime",
        default="auto",
        help="lag time in frames (after --stride), or 'auto' to select it from "
        "the convergence of implied time scales (default: auto)",
    )
    fit.add_argument(
        "--n-components",
        default="auto",
        help="latent dimension, all of it SRV coordinates, or 'auto': the SRV's "
        "slow coordinates at the lag time plus two principal components of the "
        "features for the decoder (default: auto)",
    )
    fit.add_argument(
        "--n-kernels",
        type=int,
        default=N_KERNELS,
        help="Gaussian kernels of the propagator's mixture (default: "
        f"{N_KERNELS}, as sklss demo: enough for the joint law of the slow and "
        "structural coordinates)",
    )
    fit.add_argument(
        "--stride", type=int, default=1, help="keep every k-th frame (default: 1)"
    )
    fit.add_argument(
        "--timestep",
        type=float,
        default=None,
        help="time between stored frames in ps, after --stride (default: from "
        "the files when they record it; DCD files do not)",
    )
    fit.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="cap on the training epochs of each network (default: each network's own)",
    )
    fit.add_argument(
        "--store",
        default=None,
        help="the feature store to write or reuse (default: OUT with the suffix "
        ".features.zarr)",
    )
    fit.add_argument(
        "--seed", type=int, default=0, help="seed of the training (default: 0)"
    )
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing model and a feature store made otherwise",
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(func=_fit)


def _allow_pickle_option(parser):
    parser.add_argument(
        "--allow-pickle",
        action="store_true",
        help="also open pickle/joblib files; opening a pickle can run any code in "
        "it, so use this only for files you made or trust",
    )


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        message = str(exc) or type(exc).__name__
        if isinstance(exc, MemoryError):
            message = f"out of memory ({message}); ask for a smaller run"
        print(f"sklss {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"sklss {args.command}: interrupted; "
            + (
                "rerun the same command to resume from the segments on disk"
                if args.command == "adaptive"
                else "outputs without a manifest are incomplete"
            ),
            file=sys.stderr,
        )
        return 130
