#!/usr/bin/env python3
"""Two baton builds on the parse row, process by process: `baton validate` of a generated
1,000-step file, the two binaries taking turns N times (the first of each pair alternating),
and the median of the pairs' CPU differences. Steadier on this VM than timing whole runs,
whose speed swings between two levels. Not part of the tests.

    benches/peers/ab.py OLD_BATON NEW_BATON [PAIRS=300]
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (the generated workflow is the peers script's)


def cpu(baton, path):
    """CPU (user + system) of one `baton validate` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([baton, "validate", path], stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    old, new = sys.argv[1], sys.argv[2]
    pairs = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    with tempfile.TemporaryDirectory(prefix="baton-ab-") as work:
        path = os.path.join(work, "generated.yaml")
        with open(path, "w") as f:
            f.write(measure.generated(1000))
        olds, news, diffs = [], [], []
        for i in range(pairs):
            if i % 2:
                b = cpu(new, path)
                a = cpu(old, path)
            else:
                a = cpu(old, path)
                b = cpu(new, path)
            olds.append(a)
            news.append(b)
            diffs.append(b - a)
    ms = 1e3
    print(f"old: median {statistics.median(olds) * ms:.2f} ms CPU; "
          f"new: median {statistics.median(news) * ms:.2f} ms CPU")
    print(f"median difference (new - old): {statistics.median(diffs) * ms:+.3f} ms; "
          f"new used less in {sum(1 for d in diffs if d < 0)} of {pairs} pairs")


if __name__ == "__main__":
    main()
