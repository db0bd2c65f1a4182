#!/usr/bin/env bash
# Packages every published crate as `cargo publish` would, then builds and tests each one from its unpacked
# .crate, against the other packaged crates (not the workspace), so a file a package forgot fails here.
set -euo pipefail
cd "$(dirname "$0")/.."

# publish = false crates are not packaged
exclude=(--exclude feedwire-benches --exclude feedwire-interop)
cargo package --workspace "${exclude[@]}" --no-verify

# One fixed place: test binaries bake in their crate's path (env!("CARGO_MANIFEST_DIR")), and cargo would
# take them as fresh in a new directory with the same files, so a second run must unpack where the first did.
work="$PWD/target/package-check"
rm -rf "$work"
mkdir -p "$work"
# FEEDWIRE_KEEP_PACKAGES=1 keeps the scratch workspace to rerun a failing test in it
[ -n "${FEEDWIRE_KEEP_PACKAGES:-}" ] || trap 'rm -rf "$work"' EXIT
members=()
patches=""
for crate in target/package/*.crate; do
  name=$(basename "$crate" .crate)          # feedwire-core-0.1.0
  pkg=${name%-*}                            # feedwire-core
  case "$pkg" in feedwire-benches|feedwire-interop) continue ;; esac
  tar -xzf "$crate" -C "$work"
  members+=("\"$name\"")
  patches+="$pkg = { path = \"$name\" }"$'\n'
done
{
  echo "[workspace]"
  echo "resolver = \"3\""
  echo "members = [$(IFS=,; echo "${members[*]}")]"
  echo
  echo "[patch.crates-io]"
  printf '%s' "$patches"
} >"$work/Cargo.toml"
cat "$work/Cargo.toml"

# the packages' own lock files are ignored in a workspace: resolve with the repository's lock file
cp Cargo.lock "$work/Cargo.lock"
(
  cd "$work"
  export CARGO_TARGET_DIR="$OLDPWD/target/packaged"
  cargo test --workspace --all-features --no-fail-fast
)
echo "package check: every published crate builds and passes its shipped tests from its .crate"
