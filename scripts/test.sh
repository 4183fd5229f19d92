#!/usr/bin/env bash
# Runs every test (unit and end-to-end with the real Envoy), installing what they need first.
#   bash scripts/test.sh [vitest args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/tools.sh node envoy jaeger k8s hadolint h2spec chromium redis
# shellcheck source=tools.sh
source scripts/tools.sh --env
echo "[test] node $(node --version), $("$ENVOY_BIN" --version | grep -o 'version: [^ ]*' | cut -d/ -f2 | sed 's/^/envoy /')"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent typecheck
npm run --silent cycles
# Lint and format: Biome's CI mode changes nothing and fails on any finding or unformatted file.
npx biome ci .
npm run --silent build
mkdir -p test-results
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@" || status=$?
# One plain closing line for CI: "tests: N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' || true
exit "$status"
