// Times the receive path of pusher-js 8.6 and @rails/actioncable 8.1 on given frames, in-process: a fake
// WebSocket is installed through each library's own hook (Pusher.Runtime.getWebSocketAPI,
// ActionCable.adapters.WebSocket), the client connects and subscribes through its real code, and then every
// measured iteration is one `socket.onmessage({data})`, which runs the library's whole path: JSON.parse of the
// frame (and of pusher's string-encoded data), dispatch through the connection, the channel or subscription,
// to the application's bound callback.
//
// usage: node receive-bench.js <pusher-event-frame-file> <actioncable-data-frame-file>
// prints one JSON object: {"pusher_event_ns": .., "actioncable_data_ns": .., ...}
'use strict';
const fs = require('fs');

const [pusherFile, cableFile] = process.argv.slice(2);
if (!pusherFile || !cableFile) {
  console.error('usage: node receive-bench.js <pusher-event-frame> <actioncable-data-frame>');
  process.exit(2);
}
const pusherFrame = fs.readFileSync(pusherFile, 'utf8').trim();
const cableFrame = fs.readFileSync(cableFile, 'utf8').trim();

class FakeSocket {
  constructor(url, protocols) {
    this.url = url;
    this.protocol = Array.isArray(protocols) ? protocols[0] : '';
    this.readyState = 0;
    this.sent = [];
    FakeSocket.last = this;
  }
  send(data) { this.sent.push(data); }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; if (this.onopen) this.onopen({}); }
  deliver(data) { this.onmessage({ data }); }
}
FakeSocket.CONNECTING = 0; FakeSocket.OPEN = 1; FakeSocket.CLOSING = 2; FakeSocket.CLOSED = 3;

// Runs `fn` in batches until `minMs` of measured time, after a warm-up; returns ns per call (median of 5).
function time(fn, minMs = 400) {
  for (let i = 0; i < 20000; i++) fn();
  const runs = [];
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0n;
    while (elapsed < BigInt(minMs) * 1000000n / 5n) {
      for (let i = 0; i < 1000; i++) fn();
      n += 1000;
      elapsed = process.hrtime.bigint() - start;
    }
    runs.push(Number(elapsed) / n);
  }
  runs.sort((a, b) => a - b);
  return runs[2];
}

function benchPusher() {
  const Pusher = require('pusher-js');
  Pusher.Runtime.getWebSocketAPI = () => FakeSocket;
  const frame = JSON.parse(pusherFrame);
  const pusher = new Pusher('app-key', { cluster: 'mt1', wsHost: '127.0.0.1', wsPort: 6001, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true });
  const sock = FakeSocket.last;
  sock.open();
  sock.deliver(JSON.stringify({ event: 'pusher:connection_established',
    data: JSON.stringify({ socket_id: '123.456', activity_timeout: 120 }) }));
  const channel = pusher.subscribe(frame.channel);
  sock.deliver(JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel: frame.channel, data: '{}' }));
  let received = 0;
  let last;
  channel.bind(frame.event, (data) => { received++; last = data; });
  const ns = time(() => sock.deliver(pusherFrame));
  if (received === 0 || typeof last !== 'object') throw new Error('pusher-js did not deliver the event to the callback');
  pusher.disconnect();
  return ns;
}

function benchActionCable() {
  global.addEventListener = global.removeEventListener = () => {};
  const ActionCable = require('@rails/actioncable');
  ActionCable.adapters.WebSocket = FakeSocket;
  const frame = JSON.parse(cableFrame);
  const consumer = ActionCable.createConsumer('ws://127.0.0.1:28080/cable');
  let received = 0;
  let last;
  consumer.subscriptions.create(JSON.parse(frame.identifier), { received(data) { received++; last = data; } });
  consumer.connect();
  const sock = FakeSocket.last;
  sock.open();
  sock.deliver(JSON.stringify({ type: 'welcome' }));
  sock.deliver(JSON.stringify({ identifier: frame.identifier, type: 'confirm_subscription' }));
  const ns = time(() => sock.deliver(cableFrame));
  if (received === 0 || last === undefined) throw new Error('@rails/actioncable did not deliver the message to received()');
  consumer.disconnect();
  return ns;
}

const out = {
  node: process.version,
  pusher_js: require('pusher-js/package.json').version,
  rails_actioncable: require('@rails/actioncable/package.json').version,
  pusher_frame_bytes: Buffer.byteLength(pusherFrame),
  actioncable_frame_bytes: Buffer.byteLength(cableFrame),
  pusher_event_ns: benchPusher(),
  actioncable_data_ns: benchActionCable(),
};
console.log(JSON.stringify(out));
process.exit(0);
