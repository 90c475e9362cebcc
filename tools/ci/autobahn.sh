#!/usr/bin/env bash
# Builds `tickwire` and runs the Autobahn client suite against `tickwire autobahn`.
# Bar: 301 cases (12.* and 13.* excluded), 0 failed. The runner installs the suite itself
# (see ../shared/tools/autobahn/README.md) and binds loopback only.
set -euo pipefail
cd "$(dirname "$0")/../.."
# The same feature set as `cargo test --workspace` (run just before in CI), so nothing is
# rebuilt: the tools' integration tests already built target/debug/tickwire.
cargo test --workspace --no-run
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
dir=${AUTOBAHN_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/autobahn-testsuite}
../shared/tools/autobahn/run-client-suite.sh -d "$dir" -a tickwire -t 600 -- "$target_dir/debug/tickwire" autobahn
