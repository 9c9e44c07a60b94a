#!/usr/bin/env python3
"""Two or more baton builds on the shell chain, run by run: `baton run -q` of a generated
500-step chain of `run: "true"`, the builds taking turns PAIRS times (the first of each round
alternating), a shell loop of 500 `sh -c true` after each round. Prints each build's median
wall time and its ratio to the loop's median, and for two builds the median of their
differences and how often the second was faster. This VM's speed swings by half between
sittings; paired, the swing moves both. Not part of the tests.

With `--fan`, the same for the shell fan-out instead: 1,000 `run: "true"` steps 8 at a time,
against `xargs -P 8` of 1,000 `sh -c true`. A change to how the engine is scheduled can win on
the chain and lose here (session 20's background engine threads did): measure both.

    benches/peers/chain_ab.py [--fan] OLD_BATON NEW_BATON [MORE_BATONS...] PAIRS
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (the generated workflow is the peers script's)

LOOP = ["sh", "-c", "for i in $(seq 500); do sh -c true; done"]
XARGS = ["sh", "-c", "seq 1000 | xargs -P 8 -I{} sh -c true"]


def wall(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    args = sys.argv[1:]
    fan = bool(args) and args[0] == "--fan"
    if fan:
        args = args[1:]
    if len(args) < 3:
        sys.exit(__doc__)
    batons, pairs = [os.path.abspath(b) for b in args[:-1]], int(args[-1])
    baseline, name = (XARGS, "xargs -P 8") if fan else (LOOP, "shell loop")
    with tempfile.TemporaryDirectory(prefix="baton-chain-ab-") as work:
        wf = os.path.join(work, "chain.yaml")
        with open(wf, "w") as f:
            f.write(measure.true_fan(1000, 8) if fan else measure.true_chain(500))
        data = os.path.join(work, "data")
        times = {b: [] for b in batons}
        loops = []
        for i in range(pairs):
            for b in batons if i % 2 == 0 else batons[::-1]:
                shutil.rmtree(data, ignore_errors=True)
                times[b].append(wall([b, "run", "--data-dir", data, "-q", wf]))
            loops.append(wall(baseline))
        loop = statistics.median(loops)
        for b in batons:
            t = statistics.median(times[b])
            print(f"{b}: median {t * 1e3:.1f} ms, {t / loop:.2f}× the {name}")
        print(f"{name}: median {loop * 1e3:.1f} ms")
        if len(batons) == 2:
            old, new = batons
            diffs = [n - o for o, n in zip(times[old], times[new])]
            faster = sum(d < 0 for d in diffs)
            print(f"second − first: median {statistics.median(diffs) * 1e3:+.1f} ms, "
                  f"second faster in {faster} of {len(diffs)}")


if __name__ == "__main__":
    main()
