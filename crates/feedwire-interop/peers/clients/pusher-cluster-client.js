// One pusher-js 8.6 client of a `feedwire serve pusher --redis` cluster node, for tests/cluster.rs.
//
// usage: node pusher-cluster-client.js <port> <user-id>
//   env: TIMEOUT_MS (default 60000): the client exits by itself after that long.
// App: app-id / app-key / app-secret (presence signed locally, as the other peer scripts do). Subscribes
// `cluster-feed` and `presence-cluster` and prints one JSON object per thing it sees, on stdout:
//   {"step":"connected","socket_id":..}   {"step":"subscribed","channel":..,"members":[ids]}
//   {"step":"event","channel":..,"event":..,"data":..}   {"step":"member_added"|"member_removed","user":..}
//   {"step":"state","from":..,"to":..}
const crypto = require('crypto');
const Pusher = require('pusher-js');

const port = Number(process.argv[2]);
const userId = process.argv[3];
if (!port || !userId) {
  console.error('usage: node pusher-cluster-client.js <port> <user-id>');
  process.exit(2);
}
const [KEY, SECRET] = ['app-key', 'app-secret'];
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
setTimeout(() => process.exit(0), Number(process.env.TIMEOUT_MS || 60000)).unref();

const sign = (s) => `${KEY}:${crypto.createHmac('sha256', SECRET).update(s).digest('hex')}`;
const channelData = JSON.stringify({ user_id: userId, user_info: { name: `user ${userId}` } });
const p = new Pusher(KEY, {
  cluster: 'mt1', // v8 throws without it; ignored because wsHost is set
  wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], disableStats: true,
  channelAuthorization: {
    customHandler: ({ socketId, channelName }, cb) => {
      if (channelName.startsWith('presence-')) {
        cb(null, { auth: sign(`${socketId}:${channelName}:${channelData}`), channel_data: channelData });
      } else {
        cb(null, { auth: sign(`${socketId}:${channelName}`) });
      }
    },
  },
});
p.connection.bind('state_change', ({ previous, current }) => log('state', { from: previous, to: current }));
p.connection.bind('connected', () => log('connected', { socket_id: p.connection.socket_id }));
const plain = (d) => (typeof d === 'string' ? JSON.parse(d) : d);
for (const name of ['cluster-feed', 'presence-cluster']) {
  const ch = p.subscribe(name);
  ch.bind('pusher:subscription_succeeded', (m) => {
    const members = [];
    if (m && m.each) m.each((x) => members.push(x.id));
    log('subscribed', { channel: name, members: members.sort() });
  });
  ch.bind('pusher:subscription_error', (e) => log('subscription_error', { channel: name, error: JSON.stringify(e) }));
  ch.bind('pusher:member_added', (m) => log('member_added', { user: m.id }));
  ch.bind('pusher:member_removed', (m) => log('member_removed', { user: m.id }));
  ch.bind_global((event, data) => {
    if (!event.startsWith('pusher:')) log('event', { channel: name, event, data: plain(data) });
  });
}
