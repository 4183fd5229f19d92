#!/usr/bin/env bash
# npm run mutate [-- stryker args]: Stryker over the security paths (stryker.config.mjs) with the
# unit tests (vitest.mutate.config.ts). Not part of `npm test`; hours on 2 cores.
# Stryker runs the tests in a copy of the repository without .tools/: the quota unit tests find
# redis-server through REDIS_SERVER_BIN, installed here first when absent (scripts/tools.sh redis).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/tools.sh redis
# shellcheck source=tools.sh
source scripts/tools.sh --env
exec npx stryker run stryker.config.mjs "$@"
