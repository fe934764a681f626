"""Cost per simulated nanosecond: OpenMM MD vs the latent space simulator.

Alanine dipeptide in implicit solvent (the system of ``sklss demo``). MD: OpenMM's
Reference platform (the fastest for this 22-atom molecule here), 2 fs steps, timed
by :func:`sklss.datasets.measure_md_speed`. LSS: a simulator fitted on the cached MD
data generates latent trajectories with the MDN and decodes every latent frame to
heavy-atom coordinates with the cWGAN; its time step is the lag time (1 ps frames x
``--lagtime``). Training is not counted, as in the paper (it is paid once).

    python benchmarks/bench_cost.py [--quick]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from sklss import (
    AlignedCoordinates,
    CWGANDecoder,
    LatentSpaceSimulator,
    MDNPropagator,
    SRVTransformer,
    TorsionFeaturizer,
)
from sklss.datasets import load_alanine_dipeptide, measure_md_speed


def main(argv=None):
    """Run the benchmark, print its table and return summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--lagtime", type=int, default=10, help="frames (1 ps each)")
    parser.add_argument("--n-trajectories", type=int, default=100)
    args = parser.parse_args(argv)
    n_frames = 2_000 if args.quick else 25_000
    n_steps = 200 if args.quick else 2_000
    md_steps = 2_000 if args.quick else 20_000

    md = measure_md_speed(md_steps)
    traj = load_alanine_dipeptide(n_frames)
    X = TorsionFeaturizer().fit_transform(traj)
    epochs = 3 if args.quick else 20
    sim = LatentSpaceSimulator(
        encoder=SRVTransformer(max_epochs=epochs),
        propagator=MDNPropagator(max_epochs=epochs),
        decoder=CWGANDecoder(max_epochs=1 if args.quick else 5),
        lagtime=args.lagtime,
        coordinates=AlignedCoordinates("not element H"),
        timestep=1.0,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # short fits
        sim.fit(X, y=traj)
    sim.sample(10, n_trajectories=args.n_trajectories, random_state=0)  # warm-up
    start = time.perf_counter()
    out = sim.sample(n_steps, n_trajectories=args.n_trajectories, random_state=1)
    seconds = time.perf_counter() - start
    assert out.configurations.shape[1] == n_steps + 1
    simulated_ns = args.n_trajectories * n_steps * args.lagtime * 1e-3
    lss_ns_per_day = simulated_ns / seconds * 86400
    print(
        f"alanine dipeptide, torch threads {torch.get_num_threads()}: LSS generated "
        f"{args.n_trajectories} x {n_steps} steps of {args.lagtime} ps "
        f"({simulated_ns:.0f} ns) with decoding in {seconds:.2f} s"
    )
    header = f"{'':26s}{'ns/day':>14s}{'s per simulated ns':>22s}"
    print(header)
    print("-" * len(header))
    for name, rate in (
        (f"OpenMM MD ({md['platform']})", md["ns_per_day"]),
        ("LatentSpaceSimulator", lss_ns_per_day),
    ):
        print(f"{name:26s}{rate:14.3g}{86400 / rate:22.3g}")
    ratio = lss_ns_per_day / md["ns_per_day"]
    print(f"\nLSS is {ratio:.3g}x cheaper per simulated ns (target >= 1e4).")
    return [
        {
            "benchmark": "cost per simulated ns (alanine)",
            "sklss": f"LSS {lss_ns_per_day:.3g} ns/day",
            "reference": f"OpenMM {md['ns_per_day']:.3g} ns/day",
            "speed-up": ratio,
            "target": ">= 1e4x",
        }
    ]


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
