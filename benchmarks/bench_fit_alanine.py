"""``sklss fit`` on alanine dipeptide MD files: the latent space and the mixture size.

The cached 25 ns of alanine dipeptide MD (:func:`sklss.datasets.load_alanine_dipeptide`,
generated with OpenMM on first use, about 10 minutes) are written as a DCD file and
a PDB topology, and ``sklss fit`` trains a simulator from them as a user would
(sin/cos of phi and psi plus all heavy-atom distances as features, the heavy atoms
decoded, lag 5 ps), once per configuration and seed:

- ``auto``: the default latent space, the slow SRV coordinate(s) plus two
  principal components of the features; ``2``: two SRV coordinates
  (``--n-components 2``);
- the propagator's mixture with 24 kernels (the default of ``sklss fit``) or 8.

Each simulator generates 100 times the MD length (200 trajectories) and a strided
subset, four frames per MD frame, is decoded. Two Ramachandran RMSEs against the
MD (kT, bins with at least 20 MD frames): of the generated structures, and of the
MD's own latent trajectory decoded four times ("decoder alone"), which leaves out
the propagator. MD against MD (two halves) is about 0.2 kT.

Run::

    python benchmarks/bench_fit_alanine.py          # 4 configs x 2 seeds (~40 min)
    python benchmarks/bench_fit_alanine.py --configs auto-24,2-8 --seeds 1,2,3,4
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import sklss
from sklss.analysis import compare_ramachandran
from sklss.datasets import load_alanine_dipeptide

HEAVY = "element != H"


def fit(workdir, n_components, n_kernels, seed):
    out = workdir / f"fit_{n_components}_{n_kernels}_s{seed}.sklss"
    command = [
        sys.executable,
        "-m",
        "sklss",
        "fit",
        "--top",
        str(workdir / "top.pdb"),
        "--traj",
        str(workdir / "md.dcd"),
        "--out",
        str(out),
        "--store",
        str(workdir / "md.features.zarr"),
        "--features",
        "torsions+distances",
        "--feature-atoms",
        HEAVY,
        "--decoder-atoms",
        HEAVY,
        "--lagtime",
        "5",
        "--timestep",
        "1.0",
        "--n-components",
        n_components,
        "--n-kernels",
        str(n_kernels),
        "--seed",
        str(seed),
        "--quiet",
        "--overwrite",
    ]
    subprocess.run(command, check=True, capture_output=True)
    return out


def rmse(reference, sim, latent, seed):
    configs = sim.decoder_.sample(latent, random_state=seed)
    generated = sim.coordinates_.inverse_transform(configs)
    return float(compare_ramachandran(reference, generated, min_count=20).rmse)


def evaluate(model, reference, store, seed):
    sim = sklss.load(model)
    n_traj, lag = 200, sim.lagtime_
    n_steps = int(np.ceil(100 * reference.n_frames / (n_traj * lag)))
    latent = sim.sample(n_steps, n_traj, random_state=seed, decode=False).latent
    stride = max(1, (n_traj * (n_steps + 1)) // (4 * reference.n_frames))
    sub = latent[:, ::stride].reshape(-1, latent.shape[-1])
    md_latent = np.concatenate(sim.transform(list(store)))
    summary = json.loads(Path(model).with_suffix(".summary.json").read_text())
    return {
        "coordinates": summary["validation"]["coordinates"],
        "generated": rmse(reference, sim, sub, seed + 1),
        "decoder_alone": rmse(reference, sim, np.concatenate([md_latent] * 4), seed),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="auto-24,auto-8,2-8,2-24")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--data-home", default=None)
    args = parser.parse_args(argv)
    configs = [c.split("-") for c in args.configs.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]

    traj = load_alanine_dipeptide(data_home=args.data_home, verbose=True)
    heavy = traj.atom_slice(traj.topology.select(HEAVY))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        traj.save_dcd(str(workdir / "md.dcd"))
        traj[0].save_pdb(str(workdir / "top.pdb"))
        for n_components, n_kernels in configs:
            for seed in seeds:
                model = fit(workdir, n_components, int(n_kernels), seed)
                store = sklss.open_feature_store(workdir / "md.features.zarr")
                result = evaluate(model, heavy, store, seed)
                rows.append((n_components, int(n_kernels), seed, result))
                print(
                    f"latent {n_components:>4s} ({', '.join(result['coordinates'])}), "
                    f"{n_kernels} kernels, seed {seed}: RMSE {result['generated']:.3f} "
                    f"kT, decoder alone {result['decoder_alone']:.3f} kT",
                    flush=True,
                )
    print("\nconfiguration            generated (mean / worst)   decoder alone")
    for n_components, n_kernels in configs:
        mine = [r for c, k, _, r in rows if (c, k) == (n_components, int(n_kernels))]
        gen = [r["generated"] for r in mine]
        dec = [r["decoder_alone"] for r in mine]
        print(
            f"latent {n_components:>4s}, {n_kernels:>2s} kernels   "
            f"{np.mean(gen):.3f} / {max(gen):.3f}             "
            f"{np.mean(dec):.3f} / {max(dec):.3f}"
        )


if __name__ == "__main__":
    main()
