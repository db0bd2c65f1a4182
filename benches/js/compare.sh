#!/usr/bin/env bash
# feedwire vs the JavaScript clients users would otherwise run, on the same frames, in one run:
# criterion measures feedwire's full client path (and serde_json IgnoredAny, the floor) for the Pusher channel
# event and the ActionCable data frame; receive-bench.js times pusher-js's and @rails/actioncable's receive
# paths on the same files right after; compare.js prints the ratios beside the budgets.
#
# usage: bash benches/js/compare.sh          (MEASURE=seconds per criterion bench, default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
pusher_frame=crates/feedwire-pusher/testdata/frames/server_bitskins_listed.json
cable_frame=crates/feedwire-actioncable/testdata/frames/server_message_escaped_identifier_320b.json
cargo bench -q -p feedwire-benches --bench pusher --bench actioncable -- \
  --warm-up-time 1 --measurement-time "${MEASURE:-3}" 'channel_event_417B|data_frame_320B' >/dev/null
[ -d benches/js/node_modules ] || (cd benches/js && npm ci --no-audit --no-fund --loglevel=error)
js=$(node benches/js/receive-bench.js "$pusher_frame" "$cable_frame")
node benches/js/compare.js "$js" "${CARGO_TARGET_DIR:-target}/criterion"
