// Captures the exact signed HTTP requests the official `pusher` server SDK (5.3) sends, as test vectors for
// feedwire's sans-IO REST verifier. Date.now is pinned so the vectors are reproducible.
const http = require('http');
const Pusher = require('pusher');
Date.now = () => 1764300000000; // 2025-11-28T03:20:00Z
const captured = [];
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const [path, query = ''] = req.url.split('?');
    captured.push({ method: req.method, path, query, body });
    res.setHeader('content-type', 'application/json');
    res.end(req.url.includes('/users') ? '{"users":[]}' : '{}');
  });
});
server.listen(0, '127.0.0.1', async () => {
  const api = new Pusher({ appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1',
    port: String(server.address().port), useTLS: false });
  await api.trigger('inventory_changes', 'listed', { asset_id: '123', price: 12.5, name: 'AK-47 | Redline <FT> & "x"' });
  await api.trigger(['a', 'b'], 'price_changed', 'plain string', { socket_id: '123.456' });
  await api.triggerBatch([{ channel: 'a', name: 'e1', data: { x: 1 } }, { channel: 'b', name: 'e2', data: 'y' }]);
  await api.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } });
  await api.get({ path: '/channels/presence-room', params: { info: 'user_count,subscription_count' } });
  await api.get({ path: '/channels/presence-room/users' });
  const out = { app_id: 'app-id', key: 'app-key', secret: 'app-secret', now_unix: 1764300000,
    generator: 'pusher (npm) 5.3 server SDK, Date.now pinned; script: crates/feedwire-pusher/testdata/rest/capture-rest.js', requests: captured };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  server.close();
});
