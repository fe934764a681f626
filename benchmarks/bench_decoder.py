"""Decoding throughput of CWGANDecoder.sample against straightforward implementations.

The paper's generator size: 3-D latent + 50 noise -> 3 x 200 Swish -> 60 outputs
(the 20 Cα atoms of Trp-cage), plus the default conditional mean and scale
networks (3 -> 2 x 100 -> 60 each): a frame is ``m + s * G``. Target: >= 6e5
frames/s on a 2-core CPU (the FLOP bound, printed, is the matrix products of all
three networks at the measured sgemm rate).

Rows, all measured in the same run on the same trained generator:

- ``per-frame``: one forward pass per frame (what a decode loop written frame by
  frame does); measured on a subset and extrapolated to frames/s.
- ``naive batched``: the whole array in one forward pass with autograd on, scaling
  in NumPy float64 and noise drawn separately (what a first batched version
  looks like).
- ``sample threads=T``: ``CWGANDecoder.sample`` with ``torch.set_num_threads(T)``.
- ``sample, mean network only`` (``conditional_scale=False``) and ``sample, GAN
  only`` (the paper's decoder, ``mean_layer_sizes=None``), for the cost of the
  two smaller networks.
- ``... matmul precision 'medium'``: the same under
  ``torch.set_float32_matmul_precision("medium")``, which lets the matrix
  products round their inputs to bfloat16 where the CPU has bfloat16 units
  (AVX512-BF16, AMX). Faster, not exact: the table is followed by how far these
  frames lie from the float32 ones, in units of each coordinate's spread. Its
  share of the float32 bound is not a fraction of a bound.

Run::

    python benchmarks/bench_decoder.py            # 1e6 frames
    python benchmarks/bench_decoder.py --quick    # 1e5 frames, fewer variants
"""

import argparse
import time

import numpy as np
import torch
from _hardware import gemm_rate, linear_flops

from sklss import CWGANDecoder


def _fitted_decoder(n_latent, n_out, seed=0, **params):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(2000, n_latent))
    X = np.tanh(Z @ rng.normal(size=(n_latent, n_out))) + 0.1 * rng.normal(
        size=(2000, n_out)
    )
    decoder = CWGANDecoder(max_epochs=1, batch_size=500, random_state=seed, **params)
    return decoder.fit(Z, X)


def _compose(decoder, zs, g):
    """Configurations from the generator's output ``g`` at scaled positions
    ``zs``: ``m + s * u``, with ``u`` what the GAN learns (the scale network's
    ``s`` and ``u`` in units of ``mean_scaler_``)."""
    u = g.detach().numpy() * decoder.x_halfrange_ + decoder.x_center_
    if decoder.mean_network_ is None:
        return u
    sd, center = decoder.mean_scaler_.scale, decoder.mean_scaler_.center
    m = decoder.mean_network_(zs).detach().numpy()
    if decoder.scale_network_ is None:
        return u + m * sd + center
    s = np.exp(decoder.scale_network_(zs).detach().numpy())
    return (m + s * u) * sd + center


def _best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def per_frame(decoder, Z):
    """One generator call per frame."""
    gen = decoder.generator_
    out = np.empty((len(Z), decoder.n_features_out_))
    for i, z in enumerate(Z):
        zs = torch.as_tensor((z - decoder.z_mean_) / decoder.z_scale_).float()
        x = gen(torch.cat([zs, torch.randn(decoder.noise_dim)])[None])
        out[i] = _compose(decoder, zs[None], x)[0]
    return out


def naive_batched(decoder, Z):
    """One forward pass over everything, autograd on, scaling in NumPy."""
    zs = torch.as_tensor((Z - decoder.z_mean_) / decoder.z_scale_).float()
    noise = torch.randn(len(Z), decoder.noise_dim)
    x = decoder.generator_(torch.cat([zs, noise], dim=1))
    return _compose(decoder, zs, x)


def _reduced_precision(fn):
    """``fn()`` under ``torch.set_float32_matmul_precision("medium")``."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        return fn()
    finally:
        torch.set_float32_matmul_precision(previous)


def _deviation(dec, Z):
    """RMS and largest difference between frames decoded with reduced-precision
    and float32 products (same noise), in units of each coordinate's spread."""
    exact = dec.sample(Z, random_state=0).astype(np.float64)
    fast = _reduced_precision(lambda: dec.sample(Z, random_state=0))
    d = (fast - exact) / exact.std(axis=0)
    return float(np.sqrt(np.mean(d**2))), float(np.abs(d).max())


def main(argv=None):
    """Run the benchmark, print its table and return summary rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small, fast run")
    parser.add_argument("--n-frames", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    n_frames = args.n_frames or (100_000 if args.quick else 1_000_000)
    threads = sorted({1, 2, torch.get_num_threads()})
    n_latent, n_out = 3, 60
    decoder = _fitted_decoder(n_latent, n_out)
    Z = np.random.default_rng(1).normal(size=(n_frames, n_latent)).astype(np.float32)
    default_threads = torch.get_num_threads()

    rows = []
    torch.set_num_threads(default_threads)
    n_small = min(2000 if args.quick else 5000, n_frames)
    t = _best_of(lambda: per_frame(decoder, Z[:n_small]), 1)
    rows.append(("per-frame", n_small, t, decoder))
    n_naive = min(n_frames, 200_000)
    t = _best_of(lambda: naive_batched(decoder, Z[:n_naive]), args.repeats)
    rows.append(("naive batched (autograd on)", n_naive, t, decoder))
    try:
        for n_threads in threads:
            torch.set_num_threads(n_threads)
            decoder.sample(Z[:10_000], random_state=0)  # warm-up
            t = _best_of(lambda: decoder.sample(Z, random_state=0), args.repeats)
            rows.append((f"sample threads={n_threads}", n_frames, t, decoder))
    finally:
        torch.set_num_threads(default_threads)
    for name, params in [
        ("mean network only", {"conditional_scale": False}),
        ("GAN only", {"mean_layer_sizes": None}),
    ]:
        variant = _fitted_decoder(n_latent, n_out, **params)
        variant.sample(Z[:10_000], random_state=0)
        t = _best_of(lambda v=variant: v.sample(Z, random_state=0), args.repeats)
        rows.append(
            (f"sample, {name} (threads={default_threads})", n_frames, t, variant)
        )
    fast_rows = []
    for name, dec in [("GAN only", variant), ("default", decoder)]:
        _reduced_precision(lambda d=dec: d.sample(Z[:10_000], random_state=0))
        t = _best_of(
            lambda d=dec: _reduced_precision(lambda: d.sample(Z, random_state=0)),
            args.repeats,
        )
        fast_rows.append(
            (f"sample, {name}, matmul precision 'medium'", n_frames, t, dec)
        )
    decoder.sample(Z[:10_000], random_state=0)
    t = _best_of(lambda: decoder.sample(Z, random_state=0), args.repeats)
    rows.append((f"sample default (threads={default_threads})", n_frames, t, decoder))

    print(
        f"CWGANDecoder decoding throughput: {n_latent}-D latent + "
        f"{decoder.noise_dim} noise -> 3x200 swish -> {n_out} outputs, plus the "
        f"mean and scale networks {n_latent} -> 2x100 -> {n_out}; float32 input"
    )
    rate = gemm_rate()

    def bound_of(dec):
        """Frames/s if the decoder's matrix products ran at the sgemm rate."""
        nets = (dec.generator_, dec.mean_network_, dec.scale_network_)
        return rate / sum(linear_flops(net) for net in nets if net is not None)

    bound = bound_of(decoder)
    print(
        f"torch {torch.__version__}, default threads {default_threads}; sgemm "
        f"{rate / 1e9:.0f} GFLOP/s, FLOP bound {bound:.3g} frames/s (GAN only: "
        f"{bound_of(variant):.3g}); each row's share is of its own networks' bound"
    )
    width = max(len(r[0]) for r in rows + fast_rows)
    header = ("implementation", "frames", "seconds", "frames/s")
    print(f"{header[0]:<{width}}  {header[1]:>9}  {header[2]:>9}  {header[3]:>11}")
    base = rows[1][1] / rows[1][2]
    for name, n, t, dec in rows:
        print(
            f"{name:<{width}}  {n:>9d}  {t:>9.4f}  {n / t:>11.3g}"
            f"  ({n / t / base:.2f}x naive batched, {n / t / bound_of(dec):.0%} of "
            "bound)"
        )
    for name, n, t, _ in fast_rows:
        print(
            f"{name:<{width}}  {n:>9d}  {t:>9.4f}  {n / t:>11.3g}"
            f"  ({n / t / base:.2f}x naive batched, reduced precision)"
        )
    for name, dec in [("GAN only", variant), ("default", decoder)]:
        rms, worst = _deviation(dec, Z[:100_000])
        print(
            f"matmul precision 'medium', {name}: frames differ from the float32 "
            f"ones by {rms:.2%} of each coordinate's spread (RMS; largest {worst:.1%})"
        )
    name, n, t, _ = rows[-1]
    return [
        {
            "benchmark": f"decoder sample, {n_frames} frames",
            "sklss": f"{n / t:.3g} frames/s ({n / t / bound:.0%} of bound)",
            "reference": f"naive batched {base:.3g} frames/s",
            "speed-up": n / t / base,
            "target": ">= 6e5 frames/s",
        }
    ]


if __name__ == "__main__":
    main()
