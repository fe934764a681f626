"""``sklss fit``: a latent space simulator trained from topology and trajectory files.

The files are featurised into a Zarr feature store one chunk at a time (the
store is kept next to the model and reused by a later run on the same files), the
lag time and latent dimension are selected from the SRV's implied time scales
unless given, the encoder and propagator train from the store in a streaming
fashion, and the decoder from the decoder atoms' coordinates. A validation
summary is printed and saved beside the model.
"""

import glob
import json
import warnings
from pathlib import Path

import numpy as np

from ._version import __version__

# Candidate lag times (frames) of the automatic selection: those shorter than a
# twentieth of the shortest trajectory are scanned.
LAG_CANDIDATES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Most latent components scanned by the automatic dimension selection.
MAX_COMPONENTS = 5
# Principal components of the standardised features added to the slow SRV
# coordinates when the latent dimension is selected (as ``sklss demo`` does).
N_STRUCTURAL = 2
# Kernels of the propagator's mixture: MDNPropagator's default, written out so
# that the command line's help needs no torch (a test checks they agree). The
# joint law of the slow and structural coordinates of a molecule needs them: on
# alanine dipeptide (25 ns, four seeds) 24 kernels gave a Ramachandran RMSE of
# 0.20-0.24 kT against 0.31-0.44 kT with 8 (user guide, "Checking the
# thermodynamics").
N_KERNELS = 24
FEATURES = ("torsions", "distances", "torsions+distances")


def expand_files(patterns, name="--traj"):
    """Every file matching the glob patterns, in order, each once."""
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(str(Path(pattern).expanduser())))
        if not matches:
            raise ValueError(f"{name} {pattern!r} matches no file.")
        files += [m for m in matches if Path(m).is_file() and m not in files]
    if not files:
        raise ValueError(f"{name} matches directories only; expected trajectory files.")
    return files


def make_featurizer(kind, atoms):
    """The featuriser of ``--features``: backbone torsions and/or distances."""
    from . import DistanceFeaturizer, FeatureUnion, TorsionFeaturizer

    if kind not in FEATURES:
        raise ValueError(f"--features must be one of {FEATURES}; got {kind!r}.")
    parts = []
    if "torsions" in kind:
        parts.append(("torsions", TorsionFeaturizer(angles=("phi", "psi"))))
    if "distances" in kind:
        parts.append(("distances", DistanceFeaturizer(atoms)))
    return parts[0][1] if len(parts) == 1 else FeatureUnion(parts)


def _auto_or_int(value, name):
    if value is None or value == "auto":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(
            f"{name} must be an integer or 'auto'; got {value!r}."
        ) from None
    if number < 1:
        raise ValueError(f"{name} must be >= 1 or 'auto'; got {number}.")
    return number


def _scores(net):
    """The best validation loss of a network (held-out pairs), or None."""
    losses = [h["val_loss"] for h in net.history_ if h.get("val_loss") is not None]
    return float(min(losses)) if losses else None


def fit_from_files(args, log=print):
    """Run ``sklss fit``; returns the summary dict (also written to JSON)."""
    import mdtraj

    from . import (
        AlignedCoordinates,
        CWGANDecoder,
        LatentSpaceSimulator,
        MDNPropagator,
        SRVTransformer,
        featurize_to_zarr,
        save,
    )
    from ._demo_report import coordinate_names, srv_of
    from .model_selection import make_encoder, select_dimension, select_lagtime

    lagtime = _auto_or_int(args.lagtime, "--lagtime")
    n_components = _auto_or_int(args.n_components, "--n-components")
    if args.stride < 1:
        raise ValueError(f"--stride must be >= 1; got {args.stride}.")
    if args.n_kernels < 1:
        raise ValueError(f"--n-kernels must be >= 1; got {args.n_kernels}.")
    if args.max_epochs is not None and args.max_epochs < 1:
        raise ValueError(f"--max-epochs must be >= 1; got {args.max_epochs}.")
    if args.timestep is not None and not args.timestep > 0:
        raise ValueError(f"--timestep must be > 0 (ps); got {args.timestep}.")
    files = expand_files(args.traj)
    out = Path(args.out)
    if out.suffix != ".sklss":
        raise ValueError(f"--out must name a .sklss file; got {str(out)!r}.")
    if out.exists() and not args.overwrite:
        raise ValueError(
            f"{str(out)!r} exists; choose another --out or pass --overwrite."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    top = args.top
    if top is not None and not Path(top).is_file():
        raise ValueError(f"--top: no such file {top!r}.")
    topology = mdtraj.load_topology(top) if top else None
    if topology is None:
        topology = mdtraj.load_frame(files[0], 0).topology
    decoder_atoms = None
    if args.decoder_atoms.lower() != "none":
        try:
            decoder_atoms = topology.select(args.decoder_atoms)
        except Exception as exc:  # mdtraj's selection language errors vary
            raise ValueError(
                f"--decoder-atoms {args.decoder_atoms!r} is not a valid mdtraj "
                f"selection: {exc}"
            ) from None
        if len(decoder_atoms) == 0:
            raise ValueError(
                f"--decoder-atoms {args.decoder_atoms!r} selects no atom of the "
                f"topology ({topology.n_atoms} atoms)."
            )
    featurizer = make_featurizer(args.features, args.feature_atoms)
    store_path = Path(args.store) if args.store else out.with_suffix(".features.zarr")
    seed = args.seed
    verbose = not args.quiet
    summary = {"sklss_version": __version__, "model": str(out)}

    log(f"featurising {len(files)} file(s) ({args.features}) into {store_path}")
    X = featurize_to_zarr(
        featurizer,
        files,
        store_path,
        top=top,
        stride=args.stride,
        overwrite=args.overwrite,
        verbose=verbose,
    )
    timestep = args.timestep if args.timestep is not None else X.timestep
    unit = "ps" if timestep is not None else "frames"
    dt = 1.0 if timestep is None else float(timestep)
    lengths = [len(t) for t in X]
    summary["data"] = {
        "files": X.files,
        "frames": lengths,
        "stride": args.stride,
        "timestep_ps": timestep,
        "n_features": X.n_features,
        "features": args.features,
    }
    log(
        f"  {len(X)} trajectories, {sum(lengths)} frames"
        + (f" ({sum(lengths) * dt / 1000:g} ns)" if timestep else "")
        + f", {X.n_features} features"
        + ("" if timestep else "; no time step in the files: times in frames")
    )

    epochs = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = SRVTransformer(
            n_components=min(MAX_COMPONENTS, X.n_features), random_state=seed, **epochs
        )
        selection = None
        if lagtime is None:
            candidates = [t for t in LAG_CANDIDATES if t <= min(lengths) // 20]
            if len(candidates) < 2:
                raise ValueError(
                    f"The shortest trajectory has {min(lengths)} frames: too few to "
                    "select a lag time (at least 40 are needed). Pass --lagtime."
                )
            log(f"selecting the lag time from SRV time scales at lags {candidates}")
            selection = select_lagtime(X, candidates, estimator=scan)
            lagtime = selection.lagtime
            spectrum = selection.estimator
        n_slow = None
        if n_components is None:
            if selection is None:
                spectrum = scan.set_params(lagtime=lagtime).fit(X)
            _, n_slow = select_dimension(spectrum.eigenvalues_)
            # Principal components cannot outnumber the features.
            n_components = n_slow + min(N_STRUCTURAL, X.n_features)
        log(
            f"  lag time {lagtime} frames"
            + (f" ({lagtime * dt:g} ps)" if timestep is not None else "")
            + f", {n_components} latent components"
        )
        summary["model_selection"] = {
            "lagtime_frames": lagtime,
            "lagtime": lagtime * dt,
            "unit": unit,
            "n_components": n_components,
            "n_slow": n_slow,
            "n_kernels": args.n_kernels,
            "selected": {
                "lagtime": args.lagtime in (None, "auto"),
                "n_components": args.n_components in (None, "auto"),
            },
        }
        if selection is not None:
            summary["model_selection"]["scan"] = {
                "lagtimes": [int(t) for t in selection.lagtimes],
                "timescales": (np.asarray(selection.timescales) * dt).tolist(),
            }

        y = None
        if decoder_atoms is not None:
            log(f"reading the {len(decoder_atoms)} decoder atoms' coordinates")
            y = [
                mdtraj.load(f, top=top, stride=args.stride, atom_indices=decoder_atoms)
                for f in X.files
            ]
        if n_slow is None:  # the latent dimension was given: all SRV coordinates
            encoder = SRVTransformer(n_components=n_components, **epochs)
        else:
            encoder = make_encoder(
                n_slow, n_components - n_slow, incremental=True, **epochs
            )
        sim = LatentSpaceSimulator(
            encoder=encoder,
            propagator=MDNPropagator(n_kernels=args.n_kernels, **epochs),
            decoder=None if y is None else CWGANDecoder(**epochs),
            lagtime=lagtime,
            coordinates=None if y is None else AlignedCoordinates("all"),
            timestep=args.timestep,
            time_unit="ps" if timestep is not None else None,
            random_state=seed,
            verbose=verbose,
        )
        log("fitting the latent space simulator")
        sim.fit(X, y=y)
    enc, prop = srv_of(sim), sim.propagator_
    networks = {"encoder": enc, "propagator": prop}
    if sim.decoder_ is not None:
        networks["decoder"] = sim.decoder_
    summary["validation"] = {
        "eigenvalues": enc.eigenvalues_.tolist(),
        "timescales": (np.asarray(enc.timescales_) * dt).tolist(),
        "unit": unit,
        "encoder_validation_vamp2": None if _scores(enc) is None else -_scores(enc),
        "propagator_validation_log_likelihood": (
            None if _scores(prop) is None else -_scores(prop)
        ),
        "coordinates": coordinate_names(sim),
        "epochs": {name: net.n_epochs_ for name, net in networks.items()},
        "converged": {name: bool(net.converged_) for name, net in networks.items()},
    }
    summary["warnings"] = sorted({str(w.message) for w in caught})
    if out.exists():
        out.unlink()
    summary["sha256"] = save(sim, out)
    summary_path = out.with_suffix(".summary.json")
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    log(format_summary(summary))
    log(f"wrote {out} and {summary_path}")
    return summary


def format_summary(summary):
    """The validation summary as text."""
    v, s = summary["validation"], summary["model_selection"]
    unit = v["unit"]
    lines = ["validation summary:"]
    lines.append(
        f"  lag time          {s['lagtime_frames']} frames"
        + (f" = {s['lagtime']:g} ps" if unit == "ps" else "")
        + (" (selected)" if s["selected"]["lagtime"] else "")
    )
    for i, (ev, ts) in enumerate(zip(v["eigenvalues"], v["timescales"], strict=True)):
        lines.append(
            f"  process {i + 1}         eigenvalue {ev:.3f}, time scale {ts:.4g} {unit}"
        )
    lines.append(
        f"  latent            {', '.join(v['coordinates'])}"
        + (
            " (slow SRV coordinates, then principal components of the features)"
            if any(c.startswith("pc") for c in v["coordinates"])
            else " (SRV coordinates)"
        )
    )
    if v["encoder_validation_vamp2"] is not None:
        lines.append(
            f"  encoder           VAMP-2 {v['encoder_validation_vamp2']:.3f} on "
            "validation pairs (max 1 + latent dimension)"
        )
    if v["propagator_validation_log_likelihood"] is not None:
        lines.append(
            "  propagator        log-likelihood "
            f"{v['propagator_validation_log_likelihood']:.3f} per transition on "
            "validation pairs"
        )
    epochs = ", ".join(
        f"{k} {n}{'' if v['converged'][k] else ' (capped)'}"
        for k, n in v["epochs"].items()
    )
    lines.append(f"  epochs            {epochs}")
    if summary["warnings"]:
        lines.append(f"  warnings ({len(summary['warnings'])}):")
        lines += ["    - " + w.replace("\n", "\n      ") for w in summary["warnings"]]
    return "\n".join(lines)
