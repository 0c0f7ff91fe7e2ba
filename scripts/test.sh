#!/usr/bin/env bash
# Every test: the Rust suite (CPU), then the page end-to-end in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser
cargo test --release
bash scripts/build-web.sh
node --test --test-concurrency=1 tests/e2e/
