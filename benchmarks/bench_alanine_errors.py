"""Where the alanine dipeptide demo's Ramachandran error comes from.

Reads the output directory of ``sklss demo`` (its ``simulator.sklss``,
``latent.npz`` and ``md.dcd``) and refits one network at a time on the MD's
latent trajectory, so that everything else stays the demo's:

- ``--study decoder``: decoders with other settings or targets, trained on the MD's
  latent trajectory and asked to decode it (4 structures per frame, two draws).
  The Ramachandran free-energy RMSE against the MD is then the decoder's error
  alone; the ratio of every heavy-atom bond's standard deviation to the MD's shows
  how tightly it keeps the covalent geometry.
- ``--study propagator``: propagators with other settings, sampled 100 times the
  MD's length from MD frames (200 trajectories) and decoded by the demo's
  decoder: the free-energy RMSE along each latent coordinate (50 bins) and the
  Ramachandran RMSE of the whole simulator with that propagator.

Ramachandran RMSEs use ``sklss.analysis.compare_ramachandran`` (36 x 36 bins,
bins with at least 20 MD frames). Run::

    sklss demo --out demo                 # once (about 15 minutes)
    python benchmarks/bench_alanine_errors.py demo --study propagator \\
        --configs kernels8,kernels8-reversible,kernels16,kernels24 --seeds 0,1,2
    python benchmarks/bench_alanine_errors.py demo --study decoder \\
        --configs critic5,critic3,internal --seeds 0,1
"""

import argparse
import json
import time
import warnings
from pathlib import Path

import mdtraj as md
import numpy as np

import sklss
from sklss import CWGANDecoder, InternalCoordinates, MDNPropagator
from sklss import analysis as A
from sklss.datasets import load_alanine_dipeptide

PROPAGATORS = {
    "kernels8": {"n_kernels": 8},
    "kernels8-reversible": {"n_kernels": 8, "reversible": True},
    "kernels16": {"n_kernels": 16},
    "kernels24": {"n_kernels": 24},
}
DECODERS = {
    "critic5": {"n_critic": 5},
    "critic3": {"n_critic": 3},
    "internal": {"n_critic": 5},  # bond lengths, angles and torsions as targets
    "internal-critic3": {"n_critic": 3},
}


def load_demo(out):
    out = Path(out)
    sim = sklss.load(out / "simulator.sklss")
    top = str(out / "topology.pdb")
    md_traj = md.load(str(out / "md.dcd"), top=top)
    with np.load(out / "latent.npz") as data:
        latent, lagtime = data["md"], int(data["lagtime"])
    return sim, md_traj, latent, lagtime


def rama_rmse(reference, structures):
    return A.compare_ramachandran(reference, [structures], min_count=20).rmse


def study_propagator(sim, md_traj, latent, lagtime, configs, seeds, epochs):
    base = {"hidden_layer_sizes": (100, 100), "max_epochs": epochs, "batch_size": 256}
    base["n_iter_no_change"] = 15
    n_traj = 200
    n_steps = int(np.ceil(100 * len(latent) / (n_traj * lagtime)))
    stride = max(1, n_traj * (n_steps + 1) // (4 * len(latent)))
    header = f"{'propagator':<22} {'seed':>4} {'psi1':>6} {'psi2':>6} {'Rama':>6}"
    print(f"{header} {'fit s':>6}")
    records = []
    for config in configs:
        for seed in seeds:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # early stopping, short fits
                mdn = MDNPropagator(
                    lagtime=lagtime, random_state=seed, **base, **PROPAGATORS[config]
                ).fit(latent)
            fit_s = time.perf_counter() - t0
            starts = latent[np.random.default_rng(seed).choice(len(latent), n_traj)]
            generated = mdn.sample(starts, n_steps, random_state=seed)
            profiles = []
            for k in range(latent.shape[1]):
                span = (float(latent[:, k].min()), float(latent[:, k].max()))
                kw = {"coordinate": k, "bins": 50, "range": span}
                p_md = A.free_energy_profile(latent, **kw)
                p_lss = A.free_energy_profile(list(generated), **kw)
                profiles.append(A.profile_rmse(p_md, p_lss).rmse)
            Z = generated[:, ::stride].reshape(-1, latent.shape[1])
            structures = sim.coordinates_.inverse_transform(
                sim.decoder_.sample(Z, random_state=seed + 1)
            )
            rama = rama_rmse(md_traj, structures)
            records.append(
                {"config": config, "seed": seed, "profile_rmse_kT": profiles}
                | {"ramachandran_rmse_kT": rama, "fit_s": fit_s}
            )
            print(
                f"{config:<22} {seed:>4} {profiles[0]:>6.3f} {profiles[-1]:>6.3f} "
                f"{rama:>6.3f} {fit_s:>6.0f}",
                flush=True,
            )
    return records


def study_decoder(sim, md_traj, latent, configs, seeds, epochs):
    full = load_alanine_dipeptide(verbose=False)
    heavy = full.atom_slice(full.topology.select("element != H"))
    pairs = np.array([(a.index, b.index) for a, b in heavy.topology.bonds])
    sd_md = md.compute_distances(heavy, pairs).std(axis=0)
    base = sim.decoder_.get_params() | {"max_epochs": epochs, "verbose": False}
    print(
        f"{'decoder':<18} {'seed':>4} {'Rama draw 1':>11} {'draw 2':>7} "
        f"{'bond sd / MD':>14} {'fit s':>6}"
    )
    records = []
    for config in configs:
        coords = (
            InternalCoordinates("all").fit(heavy)
            if config.startswith("internal")
            else sim.coordinates_
        )
        targets = coords.transform(heavy if config.startswith("internal") else full)
        for seed in seeds:
            params = base | DECODERS[config] | {"random_state": seed}
            t0 = time.perf_counter()
            decoder = CWGANDecoder(**params).fit(latent, targets)
            fit_s = time.perf_counter() - t0
            rmse, ratios = [], []
            for draw in (1, 2):
                decoded = decoder.sample(
                    np.repeat(latent, 4, axis=0), random_state=draw
                )
                structures = coords.inverse_transform(decoded)
                rmse.append(rama_rmse(md_traj, structures))
                ratios.append(
                    md.compute_distances(structures, pairs).std(axis=0) / sd_md
                )
            ratios = np.concatenate(ratios)
            records.append(
                {"config": config, "seed": seed, "ramachandran_rmse_kT": rmse}
                | {"bond_sd_ratio": [ratios.min(), ratios.max()], "fit_s": fit_s}
            )
            print(
                f"{config:<18} {seed:>4} {rmse[0]:>11.3f} {rmse[1]:>7.3f} "
                f"{ratios.min():>6.2f}-{ratios.max():<7.2f} {fit_s:>6.0f}",
                flush=True,
            )
    return records


def main(argv=None):
    """Run the study, print its table and return the records."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", help="output directory of `sklss demo`")
    parser.add_argument("--study", choices=("propagator", "decoder"), required=True)
    parser.add_argument("--configs", default=None, help="comma-separated names")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=200, help="max_epochs")
    parser.add_argument("--json", default=None, help="write the records here")
    args = parser.parse_args(argv)
    table = PROPAGATORS if args.study == "propagator" else DECODERS
    configs = (args.configs or ",".join(table)).split(",")
    unknown = [c for c in configs if c not in table]
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {sorted(table)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    sim, md_traj, latent, lagtime = load_demo(args.demo)
    print(
        f"sklss demo output {args.demo}: {len(latent)} MD frames, lag {lagtime} "
        f"frames, {latent.shape[1]} latent coordinates"
    )
    if args.study == "propagator":
        records = study_propagator(
            sim, md_traj, latent, lagtime, configs, seeds, args.epochs
        )
    else:
        records = study_decoder(sim, md_traj, latent, configs, seeds, args.epochs)
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1, default=float))
    return records


if __name__ == "__main__":
    main()
