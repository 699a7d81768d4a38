#!/usr/bin/env bash
# Installs the Debian packages bloodraven's quick start, tests and benchmarks need, when missing:
# MariaDB (server, client, binlog tool) and zstd; with --test also promtool (Debian's prometheus
# package: the alert rules' tests and the dashboard's run it) and chromium (the status page's
# browser test); with --bench also mydumper and sysbench.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

need=()
have mariadbd || need+=(mariadb-server)
have mariadb || need+=(mariadb-client)
have zstd || need+=(zstd)
if [ "${1:-}" = "--test" ]; then
  have promtool || need+=(prometheus)
  have chromium || need+=(chromium)
fi
if [ "${1:-}" = "--bench" ]; then
  have mydumper || need+=(mydumper)
  have sysbench || need+=(sysbench)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
