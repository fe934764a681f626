"""Run every sklss benchmark and print one summary table.

    python benchmarks/run_all.py [--quick]

Each benchmark compares sklss with the straightforward implementation or the peer,
measured in the same run, and prints its own detailed table first:

- SRVTransformer vs deeptime's VAMPNet (bench_srv.py),
- MDNPropagator.sample vs the straightforward batched torch loop (bench_mdn.py),
- MDNPropagator training per epoch vs a straightforward torch loop (bench_training.py),
- CWGANDecoder.sample vs the straightforward decoder (bench_decoder.py),
- LatentSpaceSimulator vs OpenMM, cost per simulated ns (bench_cost.py).

Timings depend on the machine and on what else runs on it; run on a quiet machine.
"""

import argparse
import importlib
import sys
from pathlib import Path

BENCHMARKS = ("bench_srv", "bench_mdn", "bench_training", "bench_decoder", "bench_cost")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke runs")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    rows = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        module = importlib.import_module(name)
        rows.extend(module.main(["--quick"] if args.quick else []) or [])
    widths = (34, 40, 44, 10)
    print("\n=== summary ===")
    header = (
        f"{'benchmark':{widths[0]}s}{'sklss':{widths[1]}s}"
        f"{'straightforward / peer':{widths[2]}s}{'speed-up':>{widths[3]}s}  target"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['benchmark']:{widths[0]}s}{row['sklss']:{widths[1]}s}"
            f"{row['reference']:{widths[2]}s}{row['speed-up']:>{widths[3]}.3g}x  "
            f"{row['target']}"
        )
    return rows


if __name__ == "__main__":
    main()
