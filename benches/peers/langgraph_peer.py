"""The LangGraph peer of baton's generated workflows, run as a whole process.

    python langgraph_peer.py chain N DB    # s0 → s1 → … (each node adds one to the one before)
    python langgraph_peer.py fan N DB      # N independent nodes, each doubling its index

The state is written the usual LangGraph way (the chain overwrites one value, the fan-out's
nodes append to one list through a reducer), and the graph runs with LangGraph's SQLite
checkpointer in a file, `durability="sync"`: every super-step's checkpoint is written before
the next starts, the nearest LangGraph has to baton flushing every completed step before it
is announced.
"""

import operator
import sys
from typing import Annotated, TypedDict

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph


class Chain(TypedDict):
    value: int


class Fan(TypedDict):
    results: Annotated[list, operator.add]


def chain(n):
    g = StateGraph(Chain)
    g.add_node("s0", lambda s: {"value": 1})
    g.add_edge(START, "s0")
    for i in range(1, n):
        g.add_node(f"s{i}", lambda s: {"value": s["value"] + 1})
        g.add_edge(f"s{i - 1}", f"s{i}")
    g.add_edge(f"s{n - 1}", END)
    return g, lambda out: out["value"] == n


def fan(n):
    g = StateGraph(Fan)
    for i in range(n):
        g.add_node(f"s{i}", lambda s, i=i: {"results": [i * 2]})
        g.add_edge(START, f"s{i}")
        g.add_edge(f"s{i}", END)
    return g, lambda out: sorted(out["results"]) == [i * 2 for i in range(n)]


def main():
    shape, n, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    graph, check = {"chain": chain, "fan": fan}[shape](n)
    with SqliteSaver.from_conn_string(db) as saver:
        app = graph.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bench"}, "recursion_limit": n + 10}
        out = app.invoke({}, config, durability="sync")
    if not check(out):
        sys.exit(f"{shape} {n}: wrong result")


if __name__ == "__main__":
    main()
