"""The LangGraph peer of baton's generated workflows, run as a whole process.

    python langgraph_peer.py chain N DB    # s0 → s1 → … (each node adds one to the one before)
    python langgraph_peer.py fan N DB      # N independent nodes, each doubling its index

Each node writes its own state key (as each baton step has its own output), and the graph runs
with LangGraph's SQLite checkpointer in a file, `durability="sync"`: every super-step's
checkpoint is written before the next starts, the nearest LangGraph has to baton flushing
every completed step before it is announced.
"""

import sys
from typing import TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph


def chain(n):
    state = TypedDict("ChainState", {f"s{i}": int for i in range(n)})
    g = StateGraph(state)
    g.add_node("s0", lambda s: {"s0": 1})
    g.add_edge(START, "s0")
    for i in range(1, n):
        g.add_node(f"s{i}", lambda s, i=i: {f"s{i}": s[f"s{i - 1}"] + 1})
        g.add_edge(f"s{i - 1}", f"s{i}")
    g.add_edge(f"s{n - 1}", END)
    return g, f"s{n - 1}", n


def fan(n):
    state = TypedDict("FanState", {f"s{i}": int for i in range(n)})
    g = StateGraph(state)
    for i in range(n):
        g.add_node(f"s{i}", lambda s, i=i: {f"s{i}": i * 2})
        g.add_edge(START, f"s{i}")
        g.add_edge(f"s{i}", END)
    return g, f"s{n - 1}", 2 * (n - 1)


def main():
    shape, n, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    graph, last, expected = {"chain": chain, "fan": fan}[shape](n)
    with SqliteSaver.from_conn_string(db) as saver:
        app = graph.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bench"}, "recursion_limit": n + 10}
        out = app.invoke({}, config, durability="sync")
    if out.get(last) != expected:
        sys.exit(f"{shape} {n}: {last} is {out.get(last)!r}, expected {expected}")


if __name__ == "__main__":
    main()
