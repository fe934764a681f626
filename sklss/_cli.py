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


def _describe(name, est):
    if est is None:
        return f"  {name:<11s} none"
    params = est.get_params(deep=False)
    keys = (
        "lagtime",
        "n_components",
        "n_kernels",
        "hidden_layer_sizes",
        "activation",
        "noise_dim",
    )
    shown = ", ".join(f"{k}={params[k]!r}" for k in keys if k in params)
    n = _count_parameters(est)
    weights = f", {n:,} weights" if n else ""
    return f"  {name:<11s} {type(est).__name__}({shown}){weights}"


def _info(args):
    import warnings

    from ._io import load_simulator

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim = load_simulator(args.model)
    print(f"{args.model}: sklss LatentSpaceSimulator (loaded with sklss {__version__})")
    for w in caught:
        print(f"  warning: {w.message}")
    print(_describe("encoder", sim.encoder_))
    print(_describe("propagator", sim.propagator_))
    print(_describe("decoder", sim.decoder_))
    unit = "frames" if sim.timestep is None else f"x {sim.timestep} time units"
    print(f"  lag time    {sim.lagtime_} input frames ({unit})")
    print(
        f"  dimensions  {sim.n_features_in_} features -> {sim.n_components_} latent"
        + (f" -> {sim.n_outputs_} outputs" if sim.n_outputs_ else "")
    )
    if sim.coordinates_ is not None:
        top = sim.coordinates_.topology_
        print(f"  topology    {top.n_atoms} atoms, {top.n_residues} residues")
    print(f"  start pool  {len(sim.start_points_)} latent frames")
    return 0


def _simulate(args):
    import numpy as np

    from ._io import atomic_path, load_simulator

    sim = load_simulator(args.model)
    if args.device is not None:
        sim.to_device(args.device)
    if args.n_steps < 1 or args.n_trajectories < 1:
        raise ValueError("--n-steps and --n-trajectories must be >= 1.")
    # The propagator's progress bar shows on long runs.
    if "verbose" in sim.propagator_.get_params():
        sim.propagator_.set_params(verbose=True)
    result = sim.sample(
        args.n_steps,
        n_trajectories=args.n_trajectories,
        random_state=args.seed,
        decode_stride=args.decode_stride,
    )
    out = Path(args.out)
    npz = out.with_suffix(".npz")
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
    written = [npz]
    if result.configurations is not None and sim.coordinates_ is not None:
        trajs = result.to_mdtraj()
        topology = out.parent / f"{out.stem}_topology.pdb"
        with atomic_path(topology) as tmp:
            trajs[0][0].save_pdb(str(tmp))
        written.append(topology)
        width = len(str(len(trajs) - 1))
        for i, traj in enumerate(trajs):
            path = out.parent / f"{out.stem}_{i:0{width}d}.{args.format}"
            with atomic_path(path) as tmp:
                traj.save(str(tmp))
            written.append(path)
    print(
        f"generated {result.n_trajectories} x {args.n_steps + 1} frames "
        f"({result.timestep} time units apart)"
    )
    for path in written:
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
        help="latent dimension; default: selected",
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
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(func=_demo)

    sim = sub.add_parser("simulate", help="generate trajectories from a saved model")
    sim.add_argument("model", help="simulator saved with joblib.dump")
    sim.add_argument("--n-steps", type=int, required=True)
    sim.add_argument("--n-trajectories", type=int, default=1)
    sim.add_argument("--seed", type=int, default=None)
    sim.add_argument(
        "--out",
        required=True,
        help="output prefix: PREFIX.npz (+ structures PREFIX_i.FORMAT)",
    )
    sim.add_argument("--format", choices=("dcd", "xtc", "pdb"), default="dcd")
    sim.add_argument("--decode-stride", type=int, default=1)
    sim.add_argument("--device", default=None, help="cpu, cuda or auto")
    sim.set_defaults(func=_simulate)

    info = sub.add_parser("info", help="describe a saved simulator")
    info.add_argument("model")
    info.set_defaults(func=_info)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"sklss {args.command}: error: {exc}", file=sys.stderr)
        return 2
