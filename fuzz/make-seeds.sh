#!/usr/bin/env bash
# Regenerates the committed seed corpora from testdata/: every frame file of a protocol seeds that protocol's
# targets. Seeds are named by content hash, so rerunning is idempotent.
set -euo pipefail
cd "$(dirname "$0")"
for proto in pusher actioncable doshii igratech; do
  frames=../crates/feedwire-$proto/testdata/frames
  [ -d "$frames" ] || frames=../testdata/$proto/frames
  [ -d "$frames" ] || continue
  for target in $(grep -o "name = \"${proto}_[a-z]*\"" Cargo.toml | cut -d'"' -f2); do
    mkdir -p "seeds/$target"
    for f in "$frames"/*; do
      [ -f "$f" ] || continue
      cp "$f" "seeds/$target/$(sha1sum "$f" | cut -c1-16)"
    done
  done
done
# The JSON validator's target: the small frames of every protocol (real JSON of every shape we meet).
mkdir -p seeds/json_validate
find $(ls -d ../testdata/*/frames ../crates/*/testdata/frames 2>/dev/null) -type f -size -2k | sort | while read -r f; do
  cp "$f" "seeds/json_validate/$(sha1sum "$f" | cut -c1-16)"
done
du -sh seeds 2>/dev/null || true
