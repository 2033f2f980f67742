#!/usr/bin/env bash
# Runs its arguments with Node.js >= 22.12 first on PATH: node.sh brings Node 24 when the
# machine's is older, as it does for ./bin/swas-inventory. The npm scripts that run TypeScript
# (`npm test`, `npm run bench`) go through here, so they work wherever `npm ci` does.
set -euo pipefail
# shellcheck source=./node.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/node.sh"
exec "$@"
