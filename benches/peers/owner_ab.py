#!/usr/bin/env python3
"""Two baton builds as owners, round by round: each build's `baton serve` (one each, started
once) takes turns with the other's (the first of each round alternating) at
  - 16 socket clients at once, each starting a small run (five transforms) with `follow` and
    reading its Events to its end: runs a second, and the owner's CPU per run (from /proc);
  - one small run as a `baton run -q` process through its owner: wall time.
Prints each build's medians and, per figure, how often the second build did better. This
VM's speed swings by half between sittings; paired, the swing moves both. Not part of the
tests.

    benches/peers/owner_ab.py OLD_BATON NEW_BATON [ROUNDS]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (the small workflow and the socket client are the peers script's)

CLIENTS = 16
EACH = 40
SINGLES = 10


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Owner:
    def __init__(self, baton, work):
        self.baton, self.data = baton, tempfile.mkdtemp(dir=work)
        self.proc = subprocess.Popen([baton, "--data-dir", self.data, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.sock = os.path.join(self.data, "store", "control.sock")
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{baton} serve did not open its control socket")
            time.sleep(0.01)

    def clients(self):
        before = cpu_seconds(self.proc.pid)
        rate = measure.runs_per_second(lambda: measure.follow_on_socket(self.sock),
                                       CLIENTS, EACH)
        return rate, (cpu_seconds(self.proc.pid) - before) / (CLIENTS * EACH)

    def single(self, wf):
        walls = []
        for _ in range(SINGLES):
            start = time.perf_counter()
            subprocess.run([self.baton, "run", "--data-dir", self.data, "-q", wf], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            walls.append(time.perf_counter() - start)
        return statistics.median(walls)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    batons = [os.path.abspath(b) for b in sys.argv[1:3]]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    with tempfile.TemporaryDirectory(prefix="baton-owner-ab-") as work:
        wf = os.path.join(work, "small.yaml")
        with open(wf, "w") as f:
            f.write(measure.SMALL)
        owners = {b: Owner(b, work) for b in batons}
        try:
            for owner in owners.values():  # warm each up
                measure.runs_per_second(lambda: measure.follow_on_socket(owner.sock), 4, 5)
            rates, cpus, singles = ({b: [] for b in batons} for _ in range(3))
            for i in range(rounds):
                for b in batons if i % 2 == 0 else batons[::-1]:
                    rate, cpu = owners[b].clients()
                    rates[b].append(rate)
                    cpus[b].append(cpu)
                    singles[b].append(owners[b].single(wf))
        finally:
            for owner in owners.values():
                owner.stop()
    for b in batons:
        print(f"{b}: {CLIENTS} socket clients {statistics.median(rates[b]):.0f} runs/s "
              f"(owner CPU {statistics.median(cpus[b]) * 1e3:.3f} ms a run); one `baton run` "
              f"through it {statistics.median(singles[b]) * 1e3:.2f} ms")
    old, new = batons
    better = lambda xs, ys, higher: sum((y > x) == higher for x, y in zip(xs, ys))
    print(f"second better in {better(rates[old], rates[new], True)} of {rounds} (runs/s), "
          f"{better(cpus[old], cpus[new], False)} of {rounds} (CPU a run), "
          f"{better(singles[old], singles[new], False)} of {rounds} (one run)")


if __name__ == "__main__":
    main()
