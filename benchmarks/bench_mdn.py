"""Throughput of ``MDNPropagator.sample`` against the straightforward batched loop.

The network has the paper's Trp-cage propagator shape (3-D latent, 24 kernels, 2x100
ReLU hidden layers), fitted briefly on a synthetic 3-D latent trajectory; both
samplers use the same fitted network in the same run. The straightforward loop is
what one writes first in torch on the fitted network (``network_``, in the scaled
units of ``scaler_``): per step a forward pass, softmax, ``torch.multinomial``,
gathering the chosen kernel's mean and scale, and fresh Gaussian noise. Each rate
is the best of 7 repetitions in which the two samplers take turns, so that both
see the same quiet and busy spells of a shared machine.

Run::

    python benchmarks/bench_mdn.py            # full
    python benchmarks/bench_mdn.py --quick    # a few seconds
"""

import argparse
import warnings

import numpy as np
import torch
from _hardware import best_times, gemm_rate, linear_flops
from sklearn.exceptions import ConvergenceWarning

from sklss import MDNPropagator


def straightforward_sample(mdn, start, n_steps, seed):
    """The obvious batched torch loop (reference implementation)."""
    device = torch.device(mdn.device_)
    gen = torch.Generator(device=device).manual_seed(seed)
    d, K = mdn.n_features_in_, mdn.n_kernels
    x = torch.as_tensor(
        mdn.scaler_.transform(start), dtype=torch.float32, device=device
    )
    traj = torch.empty((len(x), n_steps + 1, d), device=device)
    traj[:, 0] = x
    with torch.inference_mode():
        for t in range(n_steps):
            out = mdn.network_(x)
            alpha = torch.softmax(out[:, :K], dim=1)
            mu = 1.1 * torch.tanh(0.5 * out[:, K : K + K * d].reshape(-1, K, d))
            sigma = torch.nn.functional.softplus(out[:, K + K * d :]).reshape(-1, K, d)
            c = torch.multinomial(alpha, 1, generator=gen)
            idx = c[:, :, None].expand(-1, 1, d)
            mean = torch.gather(mu, 1, idx)[:, 0]
            std = torch.gather(sigma, 1, idx)[:, 0] + 1e-3
            x = mean + std * torch.randn((len(x), d), generator=gen, device=device)
            traj[:, t + 1] = x
    return mdn.scaler_.inverse_transform(traj.cpu().numpy())


def fitted_propagator(device):
    rng = np.random.default_rng(0)
    # A 3-D latent trajectory with metastable structure: a noisy walk between
    # a few centres.
    centres = rng.normal(size=(4, 3))
    states = np.repeat(rng.integers(0, 4, size=200), 50)
    Z = centres[states] + 0.3 * rng.normal(size=(len(states), 3))
    mdn = MDNPropagator(
        n_kernels=24,
        hidden_layer_sizes=(100, 100),
        max_epochs=3,
        random_state=0,
        device=device,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # 3 epochs
        mdn.fit(Z)
    return mdn, Z


def main(argv=None):
    """Run the benchmark, print its table and return summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    mdn, Z = fitted_propagator(args.device)
    scale = 0.2 if args.quick else 1.0
    cases = [(1, int(20_000 * scale)), (1000, int(1_000 * scale))]
    repeats = 1 if args.quick else 7
    summary = []
    rate = gemm_rate()
    # The network's matrix products at the machine's matrix-product rate.
    bound = rate / linear_flops(mdn.network_)
    print(
        f"MDNPropagator.sample vs straightforward loop: 3-D latent, 24 kernels, 2x100 "
        f"hidden, device={mdn.device_}, torch threads={torch.get_num_threads()}; "
        f"sgemm {rate / 1e9:.0f} GFLOP/s, FLOP bound {bound:.3g} traj-steps/s"
    )
    header = (
        f"{'trajectories':>12} {'steps':>7} {'straightforward':>17} "
        f"{'sample':>14} {'speed-up':>9} {'of bound':>9}"
    )
    print(header)
    print(f"{'':>12} {'':>7} {'(traj-steps/s)':>17} {'(traj-steps/s)':>14}")
    for n_traj, n_steps in cases:
        start = Z[np.arange(n_traj) % len(Z)]
        straightforward_sample(mdn, start, 10, 0)  # warm-up
        mdn.sample(start, 10, random_state=0)
        t_ref, t_new = best_times(
            [
                lambda s=start, n=n_steps: straightforward_sample(mdn, s, n, 0),
                lambda s=start, n=n_steps: mdn.sample(s, n, random_state=0),
            ],
            repeats,
        )
        r_ref = n_traj * n_steps / t_ref
        r_new = n_traj * n_steps / t_new
        print(
            f"{n_traj:>12} {n_steps:>7} {r_ref:>17.3g} {r_new:>14.3g} "
            f"{r_new / r_ref:>8.2f}x {r_new / bound:>8.0%}"
        )
        summary.append(
            {
                "benchmark": f"MDN sample, {n_traj} trajectories",
                "sklss": f"{r_new:.3g} traj-steps/s ({r_new / bound:.0%} of bound)",
                "reference": f"straightforward loop {r_ref:.3g} traj-steps/s",
                "speed-up": r_new / r_ref,
                "target": ">= 3x" if n_traj == 1 else ">= 2.5x",
            }
        )
    return summary


if __name__ == "__main__":
    main()
