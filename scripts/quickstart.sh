#!/usr/bin/env bash
# The quick start: installs what is needed, starts a sandbox MariaDB with sample data, backs it
# up to ./backups with `bloodraven backup now`, prints the summary, and stops the sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-system-deps.sh
# npm runs on the machine's Node; when that is older than bloodraven's engines field it warns
# EBADENGINE. The install brings Node 24 (the node@24 package), which everything below runs on.
system_node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$system_node_major" -lt 22 ]; then
  echo "note: this machine's Node is $(node --version); npm may warn EBADENGINE below. The install brings Node 24, and bloodraven runs on that."
fi
npm ci --no-audit --no-fund
exec node_modules/.bin/node scripts/quickstart.js "$@"
