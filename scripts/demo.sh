#!/usr/bin/env bash
# Runs the local demo: mock providers, llm-authz and the real Envoy on loopback, one allowed
# and denied requests, the decision log. Installs what it needs first.
#   bash scripts/demo.sh [--keep]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/tools.sh node envoy
# shellcheck source=tools.sh
source scripts/tools.sh --env
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
exec node dist/devstack/demo.js "$@"
