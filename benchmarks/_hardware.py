"""The machine's bound, measured in the same run as each benchmark."""

import time

import torch


def gemm_rate(n=1024, repeats=20):
    """Single-precision matrix-product rate of this machine now, in FLOP/s, with
    torch's current number of threads (best of three rounds)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 * repeats / best


def linear_flops(module):
    """FLOPs of one forward pass of ``module`` for one sample: 2 per multiply-add
    of its ``Linear`` layers (activations and biases not counted)."""
    return 2 * sum(
        m.in_features * m.out_features
        for m in module.modules()
        if isinstance(m, torch.nn.Linear)
    )


def best_times(functions, repeats):
    """Best wall time of each of ``functions`` over ``repeats`` rounds, the
    functions taking turns within each round: on a shared machine whose speed
    drifts, each one then sees the same quiet and busy spells."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, fn in enumerate(functions):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best
