#!/bin/sh
# baton against its peers, whole process, in one run: LangGraph (in a virtual environment this
# script creates under target/peers/, kept between runs) on a 5,000-wide fan-out and a
# 1,000-step chain; parsing a 1,000-step file against libyaml; shell steps against a shell loop
# and `xargs -P`, and the shell loop against `spawn_floor.c` (compiled with gcc), the least a
# runner that reads each step's output can do. Prints one table. Not part of the tests.
#
#   benches/peers/run.sh            # PEER_RUNS=3 (best of), PEER_WIDTH=8 (fan-out concurrency)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/peers/venv"
cd "$root"
cargo build --release --quiet --bin baton
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import langgraph.checkpoint.sqlite, yaml' 2>/dev/null; then
    echo "creating $venv (LangGraph 1.2 and its SQLite checkpointer)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'langgraph>=1.2,<1.3' langgraph-checkpoint-sqlite pyyaml
fi
exec "$venv/bin/python" "$root/benches/peers/measure.py" "$root/target/release/baton" "$venv/bin/python"
