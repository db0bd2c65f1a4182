// The official `pusher` server SDK 5.3 against a Pusher-protocol server's HTTP API, for tests/cluster.rs.
// usage: node pusher-api.js <port> trigger <channel> <event> <data-json> [socket-id]
//        node pusher-api.js <port> get <path>            (e.g. /channels/presence-cluster/users)
// Prints the answer's status and JSON body as one JSON object: {"status":200,"body":{..}}; exits 1 on failure.
const Pusher = require('pusher');
const [port, what, ...args] = process.argv.slice(2);
const api = new Pusher({ appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port, useTLS: false });
const fail = (e) => { console.error('pusher-api failed:', e.status || '', e.body || e.message || e); process.exit(1); };
const done = async (r) => {
  const text = await r.text();
  console.log(JSON.stringify({ status: r.status, body: text ? JSON.parse(text) : null }));
};
if (what === 'trigger') {
  const [channel, event, data, socketId] = args;
  api.trigger(channel, event, JSON.parse(data), socketId ? { socket_id: socketId } : undefined).then(done, fail);
} else if (what === 'get') {
  api.get({ path: args[0] }).then(done, fail);
} else {
  console.error('usage: node pusher-api.js <port> trigger|get ...');
  process.exit(2);
}
