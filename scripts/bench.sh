#!/usr/bin/env bash
# Runs the benchmarks (not part of the test suite) and rewrites BENCHMARKS.md and bench/plots/.
# Installs what it needs first: Node, Envoy, h2load/wrk, OPA-Envoy, Authorino and the Kubernetes
# control plane it reads its configuration from, matplotlib, Redis (all pinned, in .tools/).
#   bash scripts/bench.sh          (BENCH_QUICK=1 for a short smoke run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/tools.sh node envoy loadgen opa authorino k8s plot redis
# shellcheck source=tools.sh
source scripts/tools.sh --env
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
exec node bench/run.ts
