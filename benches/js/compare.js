// Prints feedwire's criterion figures beside the JavaScript clients' (from receive-bench.js), as ratios.
// usage: node compare.js '<receive-bench.js output>' <criterion dir>
'use strict';
const fs = require('fs');
const path = require('path');
const [jsJson, dir] = process.argv.slice(2);
const js = JSON.parse(jsJson);
const ns = (group, fn) => {
  const f = path.join(dir, group, fn, 'new', 'estimates.json');
  return JSON.parse(fs.readFileSync(f, 'utf8')).mean.point_estimate;
};
const rows = [
  { frame: `pusher channel event (${js.pusher_frame_bytes} B)`, group: 'pusher_channel_event_417B',
    jsName: `pusher-js ${js.pusher_js}`, jsNs: js.pusher_event_ns, floorBudget: 1.3, speedBudget: 4 },
  { frame: `actioncable data frame (${js.actioncable_frame_bytes} B)`, group: 'actioncable_data_frame_320B',
    jsName: `@rails/actioncable ${js.rails_actioncable}`, jsNs: js.actioncable_data_ns, floorBudget: 1.6, speedBudget: 3 },
];
const f = (x) => x.toFixed(0).padStart(7);
console.log(`node ${js.node}; feedwire = handle_frame + poll_event; floor = serde_json IgnoredAny over the same bytes`);
console.log('frame                           floor ns  feedwire ns  JS ns  feedwire/floor (budget)  JS/feedwire (budget)');
for (const r of rows) {
  const floor = ns(r.group, 'serde_json_ignored_any');
  const fw = ns(r.group, 'client_handle_frame_poll_event');
  const a = fw / floor;
  const b = r.jsNs / fw;
  console.log(`${r.frame.padEnd(31)} ${f(floor)}  ${f(fw)}    ${f(r.jsNs)}  ${a.toFixed(2)}x (<= ${r.floorBudget}x) ${a <= r.floorBudget ? 'ok  ' : 'MISS'}  ${b.toFixed(1)}x (>= ${r.speedBudget}x) ${b >= r.speedBudget ? 'ok' : 'MISS'}   [${r.jsName}]`);
}
