// pusher-js 8 against `feedwire replay` of a recorded Pusher session (or any Pusher server).
//
// usage: node pusher-replay-client.js <port> <channel> <events>
//   env: TIMEOUT_MS (default 20000), DEBUG=1 for pusher-js's own log.
// Connects with app key `app-key`, subscribes <channel>, and prints one JSON object per step on stdout:
// {"step":"state","from":..,"to":..} for every connection state change, {"step":"connected","socket_id":..},
// {"step":"subscribed","channel":..} (again after each reconnect), {"step":"event","event":..,"data":..}; after
// <events> events it disconnects and prints {"step":"OK"} (exit 0); {"step":"FAIL","why":..} (exit 1) otherwise.
const Pusher = require('pusher-js');

const port = Number(process.argv[2]);
const channel = process.argv[3];
const want = Number(process.argv[4]);
if (!port || !channel || !want) {
  console.error('usage: node pusher-replay-client.js <port> <channel> <events>');
  process.exit(2);
}
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
const fail = (why) => { log('FAIL', { why: String(why && (why.stack || why.message) || why) }); process.exit(1); };
process.on('uncaughtException', (e) => fail(`uncaught: ${e && e.stack || e}`));
setTimeout(() => fail('timeout'), Number(process.env.TIMEOUT_MS || 20000)).unref();

Pusher.logToConsole = !!process.env.DEBUG;
const p = new Pusher('app-key', {
  cluster: 'mt1', // v8 throws without it; ignored because wsHost is set
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true,
});
p.connection.bind('state_change', (s) => log('state', { from: s.previous, to: s.current }));
p.connection.bind('connected', () => log('connected', { socket_id: p.connection.socket_id }));
const ch = p.subscribe(channel);
ch.bind('pusher:subscription_succeeded', () => log('subscribed', { channel }));
ch.bind('pusher:subscription_error', (e) => fail(`subscription_error ${JSON.stringify(e)}`));
let seen = 0;
ch.bind_global((event, data) => {
  if (event.startsWith('pusher:') || event.startsWith('pusher_internal:')) return;
  log('event', { event, data });
  if (++seen === want) {
    log('OK');
    p.disconnect();
    setTimeout(() => process.exit(0), 200);
  }
});
