#!/usr/bin/env python3
"""Where a shell chain's step goes, stage by stage: baton's 200-step chain of `run: "true"`
against the shell loop of 200 `sh -c true`, under the scheduler's process tracepoints only
(fork, exec, exit: no system-call tracepoints, which slow every system call). Prints, for
each, the medians a step of: a child's exit to the next fork (the engine's turn), fork to
exec (the spawn), exec to exit (the child), and the whole cycle. Alternates the two ROUNDS
times, since this VM's speed drifts. Needs `perf` and root; not part of the tests.

    benches/peers/stages.py BATON [ROUNDS=2]
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (the generated workflow is the peers script's)

EVENTS = "sched:sched_process_fork,sched:sched_process_exec,sched:sched_process_exit"
LINE = re.compile(r"\s*(.+?)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)")


def traced(cmd, work):
    """The per-step stage medians (µs) of `cmd`, recorded system-wide."""
    data = os.path.join(work, "perf.data")
    subprocess.run(["perf", "record", "-q", "-a", "-o", data, "-e", EVENTS, "--", *cmd],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,time,event,trace"],
                            check=True, capture_output=True, text=True).stdout
    fork, exec_, exit_ = {}, {}, {}
    for line in script.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        at, event, trace = float(m.group(3)) * 1e6, m.group(4), m.group(5)
        if event.endswith("fork"):
            fork[int(re.search(r"child_pid=(\d+)", trace).group(1))] = at
        elif event.endswith("exec") and re.match(r"filename=\S*/sh ", trace):
            exec_[int(re.search(r" pid=(\d+)", trace).group(1))] = at
        elif event.endswith("exit"):
            exit_[int(re.search(r" pid=(\d+)", trace).group(1))] = at
    steps = sorted((fork[p], exec_[p], exit_[p]) for p in exec_ if p in fork and p in exit_)
    if len(steps) < 100:
        sys.exit(f"only {len(steps)} steps seen in the trace of {cmd[0]}")
    pairs = list(zip(steps, steps[1:]))
    med = statistics.median
    return (med(b[0] - a[2] for a, b in pairs), med(s[1] - s[0] for s in steps),
            med(s[2] - s[1] for s in steps), med(b[0] - a[0] for a, b in pairs))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    baton = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory(prefix="baton-stages-") as work:
        wf = os.path.join(work, "chain.yaml")
        with open(wf, "w") as f:
            f.write(measure.true_chain(200))
        loop = ["sh", "-c", "for i in $(seq 200); do sh -c true; done"]
        print(f"{'':8} {'exit→fork':>10} {'fork→exec':>10} {'exec→exit':>10} {'cycle':>8}  (µs)")
        for round_ in range(rounds):
            data = os.path.join(work, f"data{round_}")
            for name, cmd in (("baton", [baton, "run", "--data-dir", data, "-q", wf]),
                              ("loop", loop)):
                a, b, c, t = traced(cmd, work)
                print(f"{name:8} {a:10.0f} {b:10.0f} {c:10.0f} {t:8.0f}")


if __name__ == "__main__":
    main()
