"""Training time per epoch of MDNPropagator against a straightforward torch loop.

Both train the same network (the same initial weights, copied from a fitted
propagator's ``network_``) on the same number of lagged pairs of the same data
(the propagator holds out a random 10 % for validation, the loop the last 10 %)
with the same recipe: Adam, the same learning rate, batch size and number of
epochs, and the same mixture likelihood. The straightforward loop is what one
writes first in torch: a ``DataLoader`` over a ``TensorDataset`` with
``shuffle=True``, the loss from ``torch.distributions.MixtureSameFamily``,
``loss.item()`` logged every batch.
The propagator is timed through its public ``fit`` (with ``max_epochs`` fixed and
early stopping never reached), which also holds out and scores 10 % of the pairs
every epoch; its ``history_`` gives the duration of every epoch.

The FLOP bound is the time the matrix products of one epoch (forward and
backward, about 3x the forward multiply-adds) would take at the single-precision
matrix-product rate of this machine, measured in the same run with a
1024 x 1024 product.

Run::

    python benchmarks/bench_training.py            # 200,000 frames, 5 epochs
    python benchmarks/bench_training.py --quick    # seconds
"""

import argparse
import copy
import time
import warnings

import numpy as np
import torch
from _hardware import gemm_rate, linear_flops
from sklearn.exceptions import ConvergenceWarning

from sklss import MDNPropagator
from sklss.datasets import make_four_well

# The mixture parameterisation documented in MDNPropagator (Notes): means bounded
# to 1.1 tanh(x / 2), standard deviations min(softplus(x), 4 - 1e-3) + 1e-3.


def _mixture(out, K, d):
    logits = out[:, :K]
    mean = 1.1 * torch.tanh(0.5 * out[:, K : K + K * d].reshape(-1, K, d))
    sd = torch.nn.functional.softplus(out[:, K + K * d :]).reshape(-1, K, d)
    sd = sd.clamp(max=4.0 - 1e-3) + 1e-3
    return torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits),
        torch.distributions.Independent(torch.distributions.Normal(mean, sd), 1),
    )


def straightforward_epochs(network, W0, W1, K, *, epochs, batch_size, lr, seed):
    """Train ``network`` on internal-unit pairs; return the seconds of each epoch."""
    torch.manual_seed(seed)
    d = W0.shape[1]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(W0, W1), batch_size=batch_size, shuffle=True
    )
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    times, losses = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for a, b in loader:
            optimizer.zero_grad()
            loss = -_mixture(network(a), K, d).log_prob(b).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        times.append(time.perf_counter() - t0)
    return times, float(np.mean(losses[-len(loader) :]))


def main(argv=None):
    """Run the benchmark, print its table and return summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--kernels", type=int, default=8)
    args = parser.parse_args(argv)
    frames, epochs = (20_000, 2) if args.quick else (args.frames, args.epochs)
    lag, lr, K = 5, 1e-3, args.kernels
    Z = make_four_well(frames, random_state=0)
    params = dict(
        lagtime=lag,
        n_kernels=K,
        hidden_layer_sizes=(100, 100),
        activation="swish",
        batch_size=args.batch_size,
        learning_rate_init=lr,
        random_state=0,
    )
    # A propagator trained for one epoch gives the common starting network (in its
    # internal units, those of scaler_); its warm-started fit continues from it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        init = MDNPropagator(**params, max_epochs=1).fit(Z)
    net0 = copy.deepcopy(init.network_)
    W = init.scaler_.transform(Z[:, None] if Z.ndim == 1 else Z).astype(np.float32)
    W0, W1 = torch.from_numpy(W[:-lag].copy()), torch.from_numpy(W[lag:].copy())
    n_train = int(0.9 * len(W0))

    rate = gemm_rate()
    # Forward and backward: about three times the forward FLOPs, per pair.
    bound = 3 * linear_flops(net0) * n_train / rate  # seconds per epoch

    ref_times, ref_loss = straightforward_epochs(
        copy.deepcopy(net0),
        W0[:n_train],
        W1[:n_train],
        K,
        epochs=epochs,
        batch_size=args.batch_size,
        lr=lr,
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        mdn = init.set_params(
            warm_start=True, max_epochs=epochs, n_iter_no_change=epochs + 1
        ).fit(Z)
    ours = [h["duration"] for h in mdn.history_]
    # Best epoch of each (the first includes one-off set-up in both).
    t_ref, t_ours = min(ref_times), min(ours)
    print(
        f"MDN training per epoch: four-well, {frames} frames, lag {lag}, {n_train} "
        f"training pairs, 1-D, {K} kernels, 2x100 swish, batch {args.batch_size}, "
        f"Adam lr {lr}; torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"sgemm {rate / 1e9:.0f} GFLOP/s"
    )
    print(f"{'implementation':<36} {'s/epoch':>8} {'pairs/s':>10} {'FLOP bound':>11}")
    for name, t in (
        ("straightforward torch loop", t_ref),
        ("MDNPropagator.fit (incl. validation)", t_ours),
    ):
        print(f"{name:<36} {t:>8.3f} {n_train / t:>10.3g} {bound / t:>10.1%}")
    # history_ reports the loss in the user's units; back to internal units.
    our_loss = mdn.history_[-1]["loss"] - mdn.scaler_.log_abs_det
    print(
        f"speed-up {t_ref / t_ours:.2f}x; last epoch's mean training loss "
        f"(internal units): straightforward {ref_loss:.4f}, MDNPropagator "
        f"{our_loss:.4f}"
    )
    return [
        {
            "benchmark": f"MDN training epoch, batch {args.batch_size}",
            "sklss": f"{t_ours:.3g} s/epoch ({bound / t_ours:.0%} of FLOP bound)",
            "reference": f"straightforward loop {t_ref:.3g} s/epoch",
            "speed-up": t_ref / t_ours,
            "target": ">= 1x",
        }
    ]


if __name__ == "__main__":
    main()
