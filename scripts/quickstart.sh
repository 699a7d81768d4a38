#!/usr/bin/env bash
# The quick start: installs what is needed, starts a sandbox MariaDB with sample data, backs it
# up to ./backups with `bloodraven backup now`, prints the summary, and stops the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
npm ci --no-audit --no-fund
exec node_modules/.bin/node scripts/quickstart.js "$@"
