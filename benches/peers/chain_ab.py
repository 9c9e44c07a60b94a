#!/usr/bin/env python3
"""Two or more baton builds on one whole-process row, run by run: `baton run -q` of a generated
workflow, the builds taking turns PAIRS times (the first of each round alternating). Prints each
build's median wall time and CPU time (user + system, the process and its children), and for two
builds the median of their differences and how often the second was faster. This VM's speed
swings by half between sittings; paired, the swing moves both. Not part of the tests.

The row is the first argument's mode:
  (none)        the shell chain: 500 `run: "true"` steps in a chain, against a shell loop of
                500 `sh -c true` run after each round;
  --fan         the shell fan-out: 1,000 `run: "true"` steps 8 at a time, against
                `xargs -P 8` of 1,000 `sh -c true`;
  --transform   the 5,000-wide fan-out of transform steps (the LangGraph row; no baseline);
  --tchain      the 1,000-step chain of transform steps (no baseline).

A change to how the engine is scheduled can win on one row and lose on another (session 20's
background engine threads lost the shell fan-out; session 23's announcing flush thread lost the
transform fan-out): pair every row a change can touch.

    benches/peers/chain_ab.py [--fan|--transform|--tchain] OLD_BATON NEW_BATON [MORE...] PAIRS
"""
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (the generated workflows are the peers script's)

LOOP = ["sh", "-c", "for i in $(seq 500); do sh -c true; done"]
XARGS = ["sh", "-c", "seq 1000 | xargs -P 8 -I{} sh -c true"]

# mode: (workflow, baseline command or None, baseline's name)
MODES = {
    "": (lambda: measure.true_chain(500), LOOP, "shell loop"),
    "--fan": (lambda: measure.true_fan(1000, 8), XARGS, "xargs -P 8"),
    "--transform": (lambda: measure.fan(5000), None, None),
    "--tchain": (lambda: measure.chain(1000), None, None),
}


def timed(cmd):
    """Wall and CPU seconds of one run of `cmd` (CPU of the process and all it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu


def paired(label, old, new):
    diffs = [n - o for o, n in zip(old, new)]
    fewer = sum(d < 0 for d in diffs)
    return (f"{label}: second − first median {statistics.median(diffs) * 1e3:+.1f} ms, "
            f"second less in {fewer} of {len(diffs)}")


def main():
    args = sys.argv[1:]
    mode = args[0] if args and args[0] in MODES else ""
    if mode:
        args = args[1:]
    if len(args) < 3 or args[0].startswith("--"):
        sys.exit(__doc__)
    try:
        pairs = int(args[-1])
    except ValueError:
        sys.exit(f"PAIRS must be a number, not {args[-1]!r}\n\n{__doc__}")
    batons = [os.path.abspath(b) for b in args[:-1]]
    for b in batons:
        if not os.access(b, os.X_OK):
            sys.exit(f"{b}: not an executable baton build")
    workflow, baseline, name = MODES[mode]
    with tempfile.TemporaryDirectory(prefix="baton-chain-ab-") as work:
        wf = os.path.join(work, "workflow.yaml")
        with open(wf, "w") as f:
            f.write(workflow())
        data = os.path.join(work, "data")
        walls = {b: [] for b in batons}
        cpus = {b: [] for b in batons}
        loops = []
        for i in range(pairs):
            for b in batons if i % 2 == 0 else batons[::-1]:
                shutil.rmtree(data, ignore_errors=True)
                took, cpu = timed([b, "run", "--data-dir", data, "-q", wf])
                walls[b].append(took)
                cpus[b].append(cpu)
            if baseline:
                loops.append(timed(baseline)[0])
        loop = statistics.median(loops) if loops else None
        for b in batons:
            t = statistics.median(walls[b])
            ratio = f", {t / loop:.2f}× the {name}" if loop else ""
            print(f"{b}: median {t * 1e3:.1f} ms (CPU {statistics.median(cpus[b]) * 1e3:.1f} ms)"
                  f"{ratio}")
        if loop:
            print(f"{name}: median {loop * 1e3:.1f} ms")
        if len(batons) == 2:
            old, new = batons
            print(paired("wall", walls[old], walls[new]))
            print(paired("CPU", cpus[old], cpus[new]))


if __name__ == "__main__":
    main()
