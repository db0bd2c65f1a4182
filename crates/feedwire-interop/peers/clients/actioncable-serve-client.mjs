// An ActionCable JS client against `feedwire serve actioncable --echo` (which confirms every subscription and
// streams it from its channel name, rejects `Reject*` channels, echoes every perform to the channel's stream
// as {"action":..,"data":..}, broadcasts the {"stream":..,"message":..} lines written to its stdin, and pings
// every 3 s).
//
// usage: node actioncable-serve-client.mjs <rails|anycable|anycable-ext> [ws://HOST:PORT/cable]
//   (anycable-ext: @anycable/core asking for AnyCable's actioncable-v1-ext-json; `feedwire serve actioncable
//   --anycable` agrees to it; the subprotocol the server chose ends up in the OK line's stats.protocol)
//   env: CABLE_URL (when no URL argument; default ws://127.0.0.1:28080/cable), QUIET_MS (default 20000),
//        TIMEOUT_MS (overall, default QUIET_MS + 20000), DEBUG=1 for the library's own log.
// Prints one JSON object per step on stdout. Two steps wait for the test driving it:
//   {"step":"publish","n":1} and {"step":"publish","n":2}: write
//   {"stream":"ChatChannel","message":{"text":"from stdin","n":N}} to feedwire's stdin.
// The last line is {"step":"OK",..} (exit 0) or {"step":"FAIL","why":..} (exit 1).
//
// Scenario: subscribe ChatChannel twice with the same identifier (a duplicate subscribe on the wire: the
// server must keep one stream and the client confirm both), perform + receive the echo exactly once per
// subscription object, RejectChannel rejected, a stdin broadcast received, then QUIET_MS of silence in which
// the client's stale-connection monitor must never reconnect (pings counted), then a second broadcast.
import { createRequire } from 'node:module';
import WebSocket from 'ws';

const require = createRequire(import.meta.url);
const lib = process.argv[2];
const url = process.argv[3] || process.env.CABLE_URL || 'ws://127.0.0.1:28080/cable';
const quietMs = Number(process.env.QUIET_MS || 20000);
if (!['rails', 'anycable', 'anycable-ext'].includes(lib)) {
  console.error('usage: node actioncable-serve-client.mjs <rails|anycable|anycable-ext> [ws://HOST:PORT/cable]');
  process.exit(2);
}
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
const fail = (why) => { log('FAIL', { why: String((why && (why.stack || why.message)) || why), stats }); process.exit(1); };
process.on('unhandledRejection', (e) => fail(e));
process.on('uncaughtException', (e) => fail(e));
setTimeout(() => fail('timeout'), Number(process.env.TIMEOUT_MS || quietMs + 20000)).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every socket the library opens, the pings it receives and the subscribe commands it sends.
const stats = { sockets: 0, closes: 0, pings: 0, subscribes: {}, disconnects: 0, connects: 0, protocol: null };
let lastSocket;
class CountingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    stats.sockets += 1;
    lastSocket = this;
    this.addEventListener('message', (e) => {
      try { if (JSON.parse(e.data).type === 'ping') stats.pings += 1; } catch { /* not JSON: the library reports it */ }
    });
    this.addEventListener('close', () => { stats.closes += 1; });
    this.addEventListener('open', () => { stats.protocol = this.protocol; });
  }
  send(data) {
    try {
      const m = JSON.parse(data);
      if (m.command === 'subscribe') stats.subscribes[m.identifier] = (stats.subscribes[m.identifier] || 0) + 1;
    } catch { /* not ours to judge */ }
    super.send(data);
  }
}

// A subscription's received messages, and a way to wait for the next one.
function inbox(name) {
  const box = { name, got: [], waiters: [] };
  box.push = (m) => {
    log('received', { sub: name, message: m });
    box.got.push(m);
    const w = box.waiters.shift();
    if (w) w(m);
  };
  box.seen = 0;
  box.next = (what) => {
    const timer = setTimeout(() => fail(`${name}: no ${what} within 5 s`), 5000);
    const m = box.got.length > box.seen ? Promise.resolve(box.got[box.seen]) : new Promise((r) => box.waiters.push(r));
    return m.then((msg) => { clearTimeout(timer); box.seen += 1; return msg; });
  };
  return box;
}
const one = inbox('chat-1');
const two = inbox('chat-2');
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

let client; // { perform(text), rejectChannel(), disconnect() }
if (lib === 'rails') {
  globalThis.addEventListener = globalThis.removeEventListener = () => {}; // ConnectionMonitor's visibilitychange hook
  const ActionCable = require('@rails/actioncable');
  ActionCable.adapters.WebSocket = CountingWebSocket;
  if (process.env.DEBUG) ActionCable.logger.enabled = true;
  const consumer = ActionCable.createConsumer(url);
  const confirmed = [];
  const subscribe = (box) => new Promise((resolve) => {
    const sub = consumer.subscriptions.create({ channel: 'ChatChannel' }, {
      connected() { stats.connects += 1; confirmed.push(box.name); log('confirmed', { sub: box.name }); resolve(sub); },
      disconnected() { stats.disconnects += 1; log('disconnected', { sub: box.name }); },
      rejected() { fail(`${box.name} rejected`); },
      received(m) { box.push(m); },
    });
  });
  // the same identifier twice: @rails/actioncable sends two subscribe commands
  const [s1] = await Promise.all([subscribe(one), subscribe(two)]);
  client = {
    perform: (text) => s1.perform('speak', { text }),
    rejectChannel: () => new Promise((resolve) => {
      consumer.subscriptions.create({ channel: 'RejectChannel' }, {
        connected() { fail('RejectChannel confirmed'); },
        rejected() { resolve('rejected'); },
      });
    }),
    disconnect: () => consumer.disconnect(),
  };
} else {
  const { createCable } = await import('@anycable/core');
  const cable = createCable(url, {
    websocketImplementation: CountingWebSocket,
    protocol: lib === 'anycable-ext' ? 'actioncable-v1-ext-json' : 'actioncable-v1-json',
    logLevel: process.env.DEBUG ? 'debug' : 'error',
  });
  cable.on('connect', (ev) => { stats.connects += 1; log('connect', ev); });
  cable.on('disconnect', (ev) => { stats.disconnects += 1; log('disconnect', { reason: String(ev && (ev.reason || ev.message || ev)) }); });
  // two channel objects with the same identifier: @anycable/core shares one server subscription between them
  const c1 = cable.subscribeTo('ChatChannel');
  const c2 = cable.subscribeTo('ChatChannel');
  c1.on('message', one.push);
  c2.on('message', two.push);
  await Promise.all([c1.ensureSubscribed(), c2.ensureSubscribed()]);
  log('confirmed', { sub: 'chat-1' });
  log('confirmed', { sub: 'chat-2' });
  // so a duplicate never leaves the library: put one on its socket ourselves, and check nothing changes
  const identifier = Object.keys(stats.subscribes)[0];
  lastSocket.send(JSON.stringify({ command: 'subscribe', identifier }));
  log('injected_duplicate_subscribe', { identifier });
  client = {
    perform: (text) => c1.perform('speak', { text }),
    rejectChannel: async () => {
      try { await cable.subscribeTo('RejectChannel').ensureSubscribed(); } catch (e) { return `${e.name}: ${e.message}`; }
      return fail('RejectChannel confirmed');
    },
    disconnect: () => cable.disconnect(),
  };
}

// perform -> the server's echo, once per subscription object
const text = `hi from ${lib}`;
await client.perform(text);
for (const box of [one, two]) {
  const m = await box.next('echo');
  if (m.action !== 'speak' || !m.data || m.data.text !== text) fail(`${box.name}: echo ${JSON.stringify(m)}`);
}
log('rejected', { how: await client.rejectChannel() });

// a broadcast from feedwire's stdin
log('publish', { n: 1 });
for (const box of [one, two]) {
  const m = await box.next('stdin broadcast 1');
  if (!same(m, { text: 'from stdin', n: 1 })) fail(`${box.name}: ${JSON.stringify(m)}`);
}

// the quiet period: nothing but pings; no stale reconnect
const before = { ...stats, subscribes: { ...stats.subscribes } };
log('quiet', { ms: quietMs });
await sleep(quietMs);
const pings = stats.pings - before.pings;
log('quiet_done', { pings, stats });
if (stats.sockets !== 1 || stats.closes !== 0 || stats.disconnects !== 0) fail('the connection was reopened during the quiet period');
if (pings < Math.floor(quietMs / 3000) - 1) fail(`only ${pings} pings in ${quietMs} ms`);

log('publish', { n: 2 });
for (const box of [one, two]) {
  const m = await box.next('stdin broadcast 2');
  if (!same(m, { text: 'from stdin', n: 2 })) fail(`${box.name}: ${JSON.stringify(m)}`);
}
// no duplicate deliveries: a doubled stream would have shown a second copy of each message by now
await sleep(300);
for (const box of [one, two]) {
  if (box.got.length !== 3) fail(`${box.name} received ${box.got.length} messages, want 3: ${JSON.stringify(box.got)}`);
}
log('OK', { stats });
client.disconnect();
setTimeout(() => process.exit(0), 100);
