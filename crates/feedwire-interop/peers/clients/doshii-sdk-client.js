// Doshii's own Node SDK (doshii-partner-node-sdk 7.0.2) as an app partner against `feedwire serve doshii`.
//
// usage: node doshii-sdk-client.js <ws://HOST:PORT> <client id>
//   env: PING_MS (the SDK's pingInterval option, default 250; the SDK's own default is 30000),
//        TIMEOUT_MS (overall, default 30000), DEBUG=1 for the SDK's own debug log (plain text lines).
//
// The SDK builds the socket URL as `websocketUrlOverride + base64(clientId)`, so the override is
// `<ws://HOST:PORT>/app/socket?auth=`. It pings `{"doshii":{"ping":<Date.now()>,"version":"1.2.3"}}` on open and
// then every pingInterval, hands pongs to the subscribers of the "pong" event and every `{"emit":[name, data]}`
// to the subscribers of `name`.
//
// What the SDK does not do: reconnect. When its socket closes it logs "Doshii: Websocket closed" and stays
// closed; its heartbeat interval keeps running. So this script is the app a partner writes around the SDK,
// with its public API only: a watchdog on the SDK's pong events (no pong for 4 ping intervals = dead), then
// `clearAllWebsocketSubscriptions()`, one ping interval so that the SDK's old heartbeat sees no subscriber and
// stops itself (otherwise it keeps pinging the newest socket and throws while that one is still connecting),
// then `subscribeToWebsockeEvents(..)` again (which opens a new socket), retried every second until a pong
// comes back.
//
// The WebSocket class the SDK requires is replaced (before the SDK is loaded) by a subclass that only watches:
// it numbers the sockets and records every frame sent and each open and close; nothing is changed.
//
// Prints one JSON object per line on stdout (the SDK's warnings are plain text lines among them):
//   {"step":"socket","socket":n,"state":"created"|"open"|"closed","code":..}   the watched sockets
//   {"step":"pong","socket":n,"stamp":..,"matches_ping":true|false}          the SDK's "pong" callback
//   {"step":"ready","socket":1}                                               first pong: publish now
//   {"step":"event","socket":n,"event":name,"data":{..}}                      the SDK's event callback
//   {"step":"watchdog","silent_ms":..,"sockets_after_close":k}                pongs stopped
//   {"step":"retry","attempt":k}                                              subscribeToWebsockeEvents again
//   {"step":"reconnected","socket":n,"attempts":k}                            first pong on a new socket
// Ends with {"step":"OK","stats":{..}} (exit 0) after an event whose data has `"last":true`, or
// {"step":"FAIL","why":..} (exit 1).
'use strict';
const path = require('node:path');

const base = process.argv[2];
const clientId = process.argv[3];
if (!base || !clientId) {
  console.error('usage: node doshii-sdk-client.js <ws://HOST:PORT> <client id>');
  process.exit(2);
}
const pingMs = Number(process.env.PING_MS || 250);
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
const stats = { sockets: [], pings: {}, pongs: {}, unmatched_pongs: 0, events: 0 };
const fail = (why) => {
  log('FAIL', { why: String((why && (why.stack || why.message)) || why), stats });
  process.exit(1);
};
process.on('unhandledRejection', (e) => fail(e));
process.on('uncaughtException', (e) => fail(e));
setTimeout(() => fail('timeout'), Number(process.env.TIMEOUT_MS || 30000)).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The ws module the SDK itself resolves, replaced by a watching subclass before the SDK loads it.
const sdkDir = path.dirname(require.resolve('doshii-partner-node-sdk'));
const wsPath = require.resolve('ws', { paths: [sdkDir] });
const WebSocket = require(wsPath);
const sockets = []; // every socket the SDK made, in order; socket n is sockets[n - 1]
class WatchedWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    sockets.push(this);
    this.n = sockets.length;
    this.pingStamps = new Set();
    stats.pings[this.n] = 0;
    stats.pongs[this.n] = 0;
    stats.sockets.push({ n: this.n, url: String(args[0]).replace(/auth=[^&]*/, 'auth=<redacted>') });
    log('socket', { socket: this.n, state: 'created' });
    this.on('open', () => log('socket', { socket: this.n, state: 'open' }));
    this.on('close', (code) => log('socket', { socket: this.n, state: 'closed', code }));
  }
  send(data, ...rest) {
    try {
      const m = JSON.parse(data);
      if (m && m.doshii && m.doshii.ping !== undefined) {
        this.pingStamps.add(m.doshii.ping);
        stats.pings[this.n] += 1;
      }
    } catch { /* not ours to judge */ }
    return super.send(data, ...rest);
  }
}
require.cache[wsPath].exports = WatchedWebSocket;

const { default: Doshii, WebsocketEvents, LogLevel } = require('doshii-partner-node-sdk');
if (require(wsPath) !== WatchedWebSocket) fail('the SDK would not get the watched WebSocket');

const doshii = new Doshii(clientId, 'not-a-real-secret', {
  websocketUrlOverride: `${base}/app/socket?auth=`,
  pingInterval: pingMs,
  logLevel: process.env.DEBUG ? LogLevel.DEBUG : LogLevel.WARN,
});

// One subscription for everything: the SDK names a subscriber by Date.now().toString(36), so two
// subscriptions made in the same millisecond share an id and the second replaces the first's callback.
const EVENTS = [
  WebsocketEvents.ORDER_CREATED,
  WebsocketEvents.ORDER_UPDATED,
  WebsocketEvents.TRANSACTION_UPDATED,
  WebsocketEvents.BOOKING_CREATED,
  WebsocketEvents.PONG,
];
let lastPong = Date.now();
let lastPongSocket = 0;
const onPong = new Set(); // resolvers waiting for the next pong
function callback(event, data) {
  const socket = sockets.length; // the SDK only ever talks through its newest socket
  if (event === WebsocketEvents.PONG) {
    const stamp = data && data.doshii ? data.doshii.pong : undefined;
    const matches = sockets[socket - 1].pingStamps.has(stamp);
    if (!matches) stats.unmatched_pongs += 1;
    stats.pongs[socket] += 1;
    lastPong = Date.now();
    lastPongSocket = socket;
    log('pong', { socket, stamp, version: data.doshii.version, matches_ping: matches });
    for (const r of onPong) r(socket);
    onPong.clear();
    return;
  }
  stats.events += 1;
  log('event', { socket, event, data });
  if (data && data.last === true) {
    log('OK', { stats });
    process.exit(0);
  }
}
const nextPong = (ms) =>
  new Promise((resolve) => {
    const t = setTimeout(() => { onPong.delete(done); resolve(0); }, ms);
    const done = (socket) => { clearTimeout(t); resolve(socket); };
    onPong.add(done);
  });

async function main() {
  doshii.subscribeToWebsockeEvents(EVENTS, callback);
  const first = await nextPong(10000);
  if (!first) fail('no pong within 10 s on the first socket');
  log('ready', { socket: first });
  // the app's watchdog and reconnect, forever (the test ends the script with a `last` event)
  for (;;) {
    await sleep(pingMs / 2);
    const silent = Date.now() - lastPong;
    if (silent < 4 * pingMs) continue;
    const dead = lastPongSocket;
    log('watchdog', { silent_ms: silent, sockets_after_close: sockets.length - dead });
    doshii.clearAllWebsocketSubscriptions();
    await sleep(pingMs + 100); // the SDK's old heartbeat sees no subscriber and stops itself
    let attempt = 0;
    for (;;) {
      attempt += 1;
      log('retry', { attempt });
      doshii.subscribeToWebsockeEvents(EVENTS, callback);
      let socket = await nextPong(1000);
      // a socket still opening gets more time rather than a second socket beside it
      while (!socket && sockets[sockets.length - 1].readyState <= WebSocket.OPEN) {
        socket = await nextPong(1000);
      }
      if (socket) {
        log('reconnected', { socket, attempts: attempt });
        break;
      }
      doshii.clearAllWebsocketSubscriptions();
      await sleep(250);
    }
  }
}
main().catch(fail);
