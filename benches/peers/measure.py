"""Runs every whole-process comparison side by side and prints one table.

Called by `run.sh` (which builds baton and the LangGraph virtual environment); see there.
Each figure is the best of several runs, its baseline measured in the same run, alternating,
so that a machine whose speed drifts moves both.
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def chain(n):
    y = ["name: chain", "steps:", '  - id: s0', '    transform: { expr: "1" }']
    for i in range(1, n):
        y += [f"  - id: s{i}", f'    transform: {{ expr: "steps.s{i - 1}.output + 1" }}',
              f"    depends_on: [s{i - 1}]"]
    return "\n".join(y) + "\n"


def fan(n):
    y = ["name: fan", f"concurrency: {n}", "steps:"]
    for i in range(n):
        y += [f"  - id: s{i}", f'    transform: {{ expr: "{i} * 2" }}']
    return "\n".join(y) + "\n"


def generated(n):
    """The spec_parse bench's workflow: layers of 10, templates, `when:`, retries."""
    y = ["name: generated", "params:", "  env: { default: staging, enum: [staging, prod] }",
         "defaults:", "  timeout: 5m", "  retry: { max_attempts: 2, initial: 1s }", "steps:"]
    for i in range(n):
        y.append(f"  - id: step-{i}")
        if i >= 10:
            a, b = i - 10, i - 9 + (i + 3) % 9
            y.append(f"    depends_on: [step-{a}, step-{b}]")
            y.append(f"    run: echo {{{{ params.env }}}} {{{{ steps['step-{a}'].stdout | trim }}}}")
        else:
            y.append(f"    run: echo start {i} {{{{ params.env }}}}")
        if i % 5 == 0:
            y.append('    when: params.env != "prod"')
        if i % 7 == 0:
            y += ["    retry: 3", "    timeout: 30s"]
    return "\n".join(y) + "\n"


def true_chain(n):
    y = ["name: true-chain", "steps:", "  - id: s0", '    run: "true"']
    for i in range(1, n):
        y += [f"  - id: s{i}", '    run: "true"', f"    depends_on: [s{i - 1}]"]
    return "\n".join(y) + "\n"


def true_fan(n, width):
    y = ["name: true-fan", f"concurrency: {width}", "steps:"]
    for i in range(n):
        y += [f"  - id: s{i}", '    run: "true"']
    return "\n".join(y) + "\n"


class Took:
    """Wall time and CPU time (user + system, the process and its children)."""

    def __init__(self, wall, cpu):
        self.wall, self.cpu = wall, cpu

    def best(self, other):
        return Took(min(self.wall, other.wall), min(self.cpu, other.cpu))


WORST = Took(float("inf"), float("inf"))


class Bench:
    def __init__(self, baton, work, runs):
        self.baton, self.work, self.runs = baton, work, runs
        self.env = dict(os.environ, BATON_CONFIG_DIR=os.path.join(work, "config"),
                        BATON_HOME=os.path.join(work, "home"))

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def once(self, argv, fresh=None, stdin=None):
        """Wall time of one whole process; `fresh` is a path removed before it starts."""
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        p = subprocess.run(argv, env=self.env, stdin=stdin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        took = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if p.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stderr.decode()[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Took(took, cpu)

    def pair(self, ours, theirs, runs=None):
        """Best of `runs` of each, alternating."""
        return self.each(ours, theirs, runs=runs)

    def each(self, *measured, runs=None):
        """Best of `runs` of each of `measured`, taking turns."""
        best = [WORST] * len(measured)
        for _ in range(runs or self.runs):
            best = [b.best(m()) for b, m in zip(best, measured)]
        return best

    def baton_run(self, wf):
        data = os.path.join(self.work, "data")
        return lambda: self.once([self.baton, "run", "--data-dir", data, "-q", wf], fresh=data)


def ms(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds >= 0.01 else f"{seconds * 1e3:.2f} ms"


def fmt(t):
    return f"{ms(t.wall)} (CPU {ms(t.cpu)})"


def times(ours, theirs):
    """How many times faster `ours` is: wall (CPU)."""
    return f"{theirs.wall / ours.wall:.1f}× faster ({theirs.cpu / ours.cpu:.1f}×)"


def within(ours, theirs):
    """`ours` as a multiple of `theirs`: wall (CPU)."""
    return f"{ours.wall / theirs.wall:.2f}× ({ours.cpu / theirs.cpu:.2f}×)"


def peers(b, python, rows):
    peer = os.path.join(HERE, "langgraph_peer.py")
    db = os.path.join(b.work, "langgraph.sqlite")

    def langgraph(shape, n):
        for leftover in (db, db + "-wal", db + "-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
        return b.once([python, peer, shape, str(n), db])

    for shape, n, text, what in [("fan", 5000, fan(5000), "5,000-wide fan-out"),
                                 ("chain", 1000, chain(1000), "1,000-step chain")]:
        wf = b.write(f"{shape}.yaml", text)
        ours, theirs = b.pair(b.baton_run(wf), lambda: langgraph(shape, n))
        rows.append((f"{what} of `transform` steps", f"{fmt(ours)}, {ours.wall / n * 1e6:.0f} µs a step",
                     f"LangGraph, SQLite checkpointer: {fmt(theirs)}", times(ours, theirs)))


def parse_runs(runs):
    """Parsing takes a few milliseconds a process and its spread on this VM is about its size:
    the best of many is the figure."""
    return max(runs * 10, 30)


def parsing(b, python, rows):
    """A 1,000-step file's `baton validate` less a one-step file's is what reading the steps
    costs; PyYAML's C loader reading the same file into plain values is the baseline."""
    big = b.write("generated.yaml", generated(1000))
    tiny = b.write("tiny.yaml", generated(1))
    runs = parse_runs(b.runs)
    t_big, t_tiny = b.pair(lambda: b.once([b.baton, "validate", big]),
                           lambda: b.once([b.baton, "validate", tiny]), runs=runs)
    script = ("import sys, time, yaml\n"
              "text = open(sys.argv[1]).read()\n"
              "best = float('inf')\n"
              "for _ in range(%d):\n"
              "    start = time.process_time()\n"
              "    yaml.load(text, Loader=yaml.CSafeLoader)\n"
              "    best = min(best, time.process_time() - start)\n"
              "print(best)" % runs)
    libyaml = subprocess.run([python, "-c", script, big], capture_output=True, text=True,
                             check=True)
    t_yaml = float(libyaml.stdout)
    # CPU time: on a busy machine the wall time of a 20 ms process is mostly waiting.
    parse = t_big.cpu - t_tiny.cpu
    rows.append(("parse + validate 1,000 steps (CPU of `baton validate`, less a 1-step file's)",
                 ms(parse),
                 f"PyYAML's C loader (libyaml), plain values, CPU: {ms(t_yaml)}",
                 f"{parse / t_yaml:.2f}×"))


def spawn_floor(b):
    """`spawn_floor.c`, compiled into the work directory."""
    exe = os.path.join(b.work, "spawn_floor")
    cc = subprocess.run(["gcc", "-O2", "-o", exe, os.path.join(HERE, "spawn_floor.c")],
                        capture_output=True, text=True)
    if cc.returncode != 0:
        sys.exit(f"cannot compile spawn_floor.c (gcc):\n{cc.stderr}")
    return exe


def shell(b, width, rows):
    wf = b.write("true-chain.yaml", true_chain(500))
    loop = "for i in $(seq 500); do sh -c true; done"
    floor = spawn_floor(b)
    ours, theirs, least = b.each(b.baton_run(wf), lambda: b.once(["sh", "-c", loop]),
                                 lambda: b.once([floor, "500", "true"]))
    rows.append(('500-step chain of `run: "true"`', fmt(ours),
                 f"a shell loop of 500 `sh -c true`: {fmt(theirs)}", within(ours, theirs)))
    rows.append(("the least a chain of 500 `sh -c true` can take with each step's output read: "
                 "`spawn_floor.c` (vfork, each step in its own process group, stdout and stderr read "
                 "through epoll, waitpid; no store)", fmt(least),
                 f"the shell loop: {fmt(theirs)}", within(least, theirs)))
    wf = b.write("true-fan.yaml", true_fan(1000, width))
    xargs = f"seq 1000 | xargs -P {width} -I{{}} sh -c true"
    ours, theirs = b.pair(b.baton_run(wf), lambda: b.once(["sh", "-c", xargs]))
    rows.append((f'1,000-wide fan-out of `run: "true"`, {width} at a time', fmt(ours),
                 f"`xargs -P {width}` of 1,000 `sh -c true`: {fmt(theirs)}", within(ours, theirs)))


SMALL = ("name: small\nsteps:\n  - id: s0\n    transform: { expr: \"1\" }\n"
         + "".join(f"  - id: s{i}\n    transform: {{ expr: \"steps.s{i - 1}.output + 1\" }}\n"
                   f"    depends_on: [s{i - 1}]\n" for i in range(1, 5)))


def owner(b, rows, clients=16, n=20):
    """Small runs (five transforms) as whole `baton run` processes: through a `baton serve`
    owner, against the same runs with no owner (each process opens the store itself)."""
    wf = b.write("small.yaml", SMALL)
    alone, owned = os.path.join(b.work, "alone"), os.path.join(b.work, "owned")
    run = lambda data: (lambda: b.once([b.baton, "run", "--data-dir", data, "-q", wf]))
    serve = subprocess.Popen([b.baton, "--data-dir", owned, "serve"], env=b.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        sock = os.path.join(owned, "store", "control.sock")
        deadline = time.monotonic() + 30
        while not os.path.exists(sock):
            if serve.poll() is not None or time.monotonic() > deadline:
                sys.exit("`baton serve` did not open its control socket")
            time.sleep(0.01)
        ours, theirs = b.pair(run(owned), run(alone), runs=n)
        rows.append(("a small run (5 transforms), one `baton run` process, through `baton serve`",
                     fmt(ours), f"the same with no owner: {fmt(theirs)}", within(ours, theirs)))
        rate_owned = runs_per_second(run(owned), clients, b.runs * 4)
        rate_alone = runs_per_second(run(alone), 1, b.runs * 4 * clients)
        rows.append((f"small runs a second, {clients} clients at once through `baton serve`",
                     f"{rate_owned:.0f} runs/s",
                     f"one after another with no owner (the store is one process's at a time): "
                     f"{rate_alone:.0f} runs/s", f"{rate_owned / rate_alone:.2f}×"))
        rate_socket = runs_per_second(lambda: follow_on_socket(sock), clients, b.runs * 40)
        rows.append((f"small runs a second, {clients} socket clients at once through `baton serve` "
                     "(each run: connect, hello, `follow`, read its Events to its end)",
                     f"{rate_socket:.0f} runs/s",
                     f"the same runs as {clients} `baton run` processes at once: "
                     f"{rate_owned:.0f} runs/s", f"{rate_socket / rate_owned:.2f}×"))
    finally:
        serve.terminate()
        serve.wait()


def follow_on_socket(sock):
    """One small run through the owner's control socket, as any client may start one:
    protocol 4's `follow` starts it and streams its Events until its final state."""
    import json
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(60)
        conn.connect(sock)
        lines = conn.makefile("rb")
        hello = {"hello": {"protocol": 4, "baton": "peers"}}
        follow = {"op": "follow", "request": {"source": SMALL, "path": None, "params": {},
                                              "workdir": None}}
        conn.sendall((json.dumps(hello) + "\n" + json.dumps(follow) + "\n").encode())
        if "hello" not in json.loads(lines.readline()):
            sys.exit("the owner refused the hello (another protocol version?)")
        answer = json.loads(lines.readline())
        if "ok" not in answer:
            sys.exit(f"the owner refused the run: {answer}")
        for line in lines:
            event = json.loads(line).get("event", {})
            if event.get("type") == "run_state" and event.get("state") not in (
                    "pending", "running", "paused"):
                if event["state"] != "succeeded":
                    sys.exit(f"a small run ended {event['state']}")
                return
        sys.exit("the owner closed the stream before the run ended")


def runs_per_second(one, clients, each):
    import threading
    start = time.perf_counter()
    threads = [threading.Thread(target=lambda: [one() for _ in range(each)])
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return clients * each / (time.perf_counter() - start)


def main():
    baton, python = sys.argv[1], sys.argv[2]
    runs = int(os.environ.get("PEER_RUNS", "3"))
    width = int(os.environ.get("PEER_WIDTH", "8"))
    only = os.environ.get("PEER_ONLY", "peers,parse,shell,owner").split(",")
    work = tempfile.mkdtemp(prefix="baton-peers-")
    b = Bench(baton, work, runs)
    rows = []
    try:
        # Parsing first: for a while after the LangGraph runs, short processes on this VM run
        # slower (baton's and libyaml's alike), and parsing is the shortest figure.
        if "parse" in only:
            parsing(b, python, rows)
        if "peers" in only:
            peers(b, python, rows)
        if "shell" in only:
            shell(b, width, rows)
        if "owner" in only:
            owner(b, rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"whole processes, best of {runs} runs each (parsing: {parse_runs(runs)}), each "
          "alternating with its baseline; wall time (CPU time: user + system)\n")
    print("| what | baton | baseline in the same run | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
