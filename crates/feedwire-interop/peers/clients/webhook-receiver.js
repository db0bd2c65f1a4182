// A webhook receiver that checks what a Pusher-protocol server POSTs with the official `pusher` server SDK:
// `pusher.webhook({ headers, rawBody }).isValid()` (X-Pusher-Key and the HMAC-SHA256 X-Pusher-Signature),
// `getEvents()` and `getTime()`.
//
// usage: node webhook-receiver.js <port>    (app-id / app-key / app-secret; binds 127.0.0.1)
// Prints {"step":"listening","port":..} and then one {"step":"webhook","valid":..,"time_ms":..,"events":[..]}
// per POST; answers 200 to a valid webhook and 401 to any other.
const http = require('http');
const Pusher = require('pusher');

const port = Number(process.argv[2]);
if (!port) {
  console.error('usage: node webhook-receiver.js <port>');
  process.exit(2);
}
const pusher = new Pusher({ appId: 'app-id', key: 'app-key', secret: 'app-secret' });
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let valid = false;
      let events = null;
      let timeMs = null;
      try {
        const hook = pusher.webhook({ headers: req.headers, rawBody });
        valid = hook.isValid();
        if (valid) {
          events = hook.getEvents();
          timeMs = hook.getTime().getTime();
        }
      } catch (e) {
        log('error', { why: String(e && e.message || e) });
      }
      log('webhook', { method: req.method, path: req.url, valid, time_ms: timeMs, events });
      res.writeHead(valid ? 200 : 401);
      res.end();
    });
  })
  .listen(port, '127.0.0.1', () => log('listening', { port }));
