#!/usr/bin/env bash
# Runs the local demo: mock providers, llm-authz and the real Envoy on loopback, one allowed
# and denied requests, the decision log. Installs what it needs first.
#   bash scripts/demo.sh [--keep] [--jaeger]
# --jaeger also runs the real Jaeger (built from the Go module proxy on first use: a few minutes)
# and shows each request's trace.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/tools.sh node envoy
case " $* " in *" --jaeger "*) bash scripts/tools.sh jaeger ;; esac
# shellcheck source=tools.sh
source scripts/tools.sh --env
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
exec node devstack/demo.ts "$@"
