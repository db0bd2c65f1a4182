// Triggers one event through the official `pusher` server SDK against a Pusher-protocol server's HTTP API.
// usage: node trigger.js <port> <channel> <event> <data-json> [encryption-master-key-base64]
// Prints "OK <status>" on success; exits 1 with the error otherwise.
const Pusher = require('pusher');
const [port, channel, event, data, masterKey] = process.argv.slice(2);
const opts = { appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port, useTLS: false };
if (masterKey) opts.encryptionMasterKeyBase64 = masterKey;
new Pusher(opts)
  .trigger(channel, event, JSON.parse(data))
  .then((r) => { console.log('OK', r.status); })
  .catch((e) => { console.error('trigger failed:', e.status || '', e.body || e.message || e); process.exit(1); });
