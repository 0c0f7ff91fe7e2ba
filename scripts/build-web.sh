#!/usr/bin/env bash
# Builds the page: the crate for wasm32, its JS glue and the front-end libraries, into www/.
set -euo pipefail
cd "$(dirname "$0")/.."
# the `wasm` profile: fat LTO, one codegen unit; .cargo/config.toml turns on wasm SIMD
cargo build --profile wasm --lib --target wasm32-unknown-unknown
# no name section: megabytes of function names (BENCHMARKS.md; a panic's message still reaches the page; its
# stack trace shows function indices instead of names)
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section --out-dir www/pkg "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm/maml_lab.wasm"
mkdir -p www/vendor
cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css www/vendor/
echo "built www/ (wasm $(stat -c %s www/pkg/maml_lab_bg.wasm) bytes, $(gzip -9 -c www/pkg/maml_lab_bg.wasm | wc -c) gzipped)"
