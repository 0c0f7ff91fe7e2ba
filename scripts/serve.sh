#!/usr/bin/env bash
# The main job: install what is missing, build the page, and serve it on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build-web.sh
exec node scripts/serve.mjs "${PORT:-8080}"
