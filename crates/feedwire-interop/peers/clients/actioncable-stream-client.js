// One @rails/actioncable 8.1 consumer for tests/cable_redis.rs: subscribes to FeedChannel (which streams from
// "FeedChannel" on Rails' config.ru and on `feedwire serve actioncable`) and prints what it gets.
// usage: node actioncable-stream-client.js <cable-url>
//   env: TIMEOUT_MS (default 60000): exits by itself after that long.
// Prints {"step":"confirmed"}, {"step":"received","message":..}, {"step":"disconnected"}, {"step":"rejected"}.
globalThis.addEventListener = globalThis.removeEventListener = () => {}; // ConnectionMonitor's visibilitychange hook
const ActionCable = require('@rails/actioncable');
ActionCable.adapters.WebSocket = require('ws');

const url = process.argv[2];
if (!url) {
  console.error('usage: node actioncable-stream-client.js <cable-url>');
  process.exit(2);
}
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
setTimeout(() => process.exit(0), Number(process.env.TIMEOUT_MS || 60000)).unref();
const consumer = ActionCable.createConsumer(url);
consumer.subscriptions.create({ channel: 'FeedChannel' }, {
  connected() { log('confirmed'); },
  disconnected() { log('disconnected'); },
  rejected() { log('rejected'); },
  received(m) { log('received', { message: m }); },
});
