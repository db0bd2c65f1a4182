// A Pusher JS client against `feedwire serve pusher` (or any Pusher-protocol server whose HTTP API shares the
// WebSocket port, like soketi), events triggered through the official `pusher` server SDK.
//
// usage: node pusher-serve-client.js <pusher-js|pusher-client> [port]
//   env: FEEDWIRE_HOST (default 127.0.0.1), FEEDWIRE_PORT (when no port argument), TIMEOUT_MS (default 15000),
//        DEBUG=1 for the client library's own log, FEEDWIRE_TLS=1 for wss:// and https:// (trust the server's
//        CA with NODE_EXTRA_CA_CERTS), APP_ID / APP_KEY / APP_SECRET for another app.
// App: app-id / app-key / app-secret unless the environment names another. Private and presence channels are signed locally (as the shared peer
// scripts do). Prints one JSON object per step on stdout; the last line is {"step":"OK"} (exit 0) or
// {"step":"FAIL","why":..} (exit 1).
//
// Scenario: client A (user alice) connects and subscribes my-channel, private-room and presence-room; client B
// (user bob) joins presence-room and both see each other; the SDK triggers one event per channel, a
// multi-channel event, an event excluding A's socket id and a batch; the SDK lists the presence users over
// GET; B leaves and A sees it.
const crypto = require('crypto');
const PusherServer = require('pusher');

const lib = process.argv[2];
const host = process.env.FEEDWIRE_HOST || '127.0.0.1';
const port = Number(process.argv[3] || process.env.FEEDWIRE_PORT);
const APP_ID = process.env.APP_ID || 'app-id';
const KEY = process.env.APP_KEY || 'app-key';
const SECRET = process.env.APP_SECRET || 'app-secret';
const tls = process.env.FEEDWIRE_TLS === '1';
if (!['pusher-js', 'pusher-client'].includes(lib) || !port) {
  console.error('usage: node pusher-serve-client.js <pusher-js|pusher-client> <port>');
  process.exit(2);
}
const log = (step, extra = {}) => console.log(JSON.stringify({ step, ...extra }));
const fail = (why) => { log('FAIL', { why: String(why && (why.stack || why.message) || why) }); process.exit(1); };
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${e && (e.body || e.message) || e}`));
process.on('uncaughtException', (e) => fail(`uncaught: ${e && e.stack || e}`));
setTimeout(() => fail('timeout'), Number(process.env.TIMEOUT_MS || 15000)).unref();

const api = new PusherServer({ appId: APP_ID, key: KEY, secret: SECRET, host, port: String(port), useTLS: tls });
const sign = (s) => `${KEY}:${crypto.createHmac('sha256', SECRET).update(s).digest('hex')}`;
const plain = (d) => (typeof d === 'string' ? JSON.parse(d) : d);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function connect(userId) {
  const userInfo = { name: `user ${userId}` };
  if (lib === 'pusher-js') {
    const Pusher = require('pusher-js');
    Pusher.logToConsole = !!process.env.DEBUG;
    const channelData = JSON.stringify({ user_id: userId, user_info: userInfo });
    const p = new Pusher(KEY, {
      cluster: 'mt1', // v8 throws without it; ignored because wsHost is set
      wsHost: host, wsPort: port, wssPort: port, forceTLS: tls, enabledTransports: ['ws'], // pusher-js's name for both ws and wss
      disableStats: true,
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
    p.connection.bind('error', (e) => log('connection_error', { user: userId, error: JSON.stringify(e) }));
    return {
      onConnected: (f) => p.connection.bind('connected', () => f(p.connection.socket_id)),
      socketId: () => p.connection.socket_id,
      subscribe: (name) => p.subscribe(name),
      disconnect: () => p.disconnect(),
    };
  }
  const Pusher = require('pusher-client');
  if (process.env.DEBUG) Pusher.log = console.log;
  // URL it builds: ws://HOST:PORT/app/app-key?client=node-client&version=1.1.0&protocol=7; `secret` => local
  // signatures, `channel_data` => the presence member.
  const p = new Pusher(KEY, {
    encrypted: tls, host, wsPort: port, wssPort: port, secret: SECRET,
    channel_data: { user_id: userId, user_info: userInfo },
  });
  return {
    onConnected: (f) => p.connection.on('connected', () => f(p.connection.socket_id)),
    socketId: () => p.connection.socket_id,
    subscribe: (name) => p.subscribe(name),
    disconnect: () => p.disconnect(),
  };
}

const members = (ch) => {
  const ids = [];
  ch.members.each((m) => ids.push(String(m.id)));
  return { me: ch.members.me && String(ch.members.me.id), count: ch.members.count, ids: ids.sort() };
};

// expectations: "channel/event" -> payload, for A and for B
const wantA = new Map([
  ['my-channel/my-event', { hello: 'public' }],
  ['private-room/my-event', { hello: 'private' }],
  ['presence-room/my-event', { hello: 'presence', n: 3 }],
  ['my-channel/multi', { multi: true }],
  ['private-room/multi', { multi: true }],
  ['my-channel/batch-1', { b: 1 }],
  ['private-room/batch-2', { b: 2 }],
]);
const wantB = new Map([
  ['presence-room/my-event', { hello: 'presence', n: 3 }],
  ['presence-room/not-for-alice', { excluded: 'alice' }],
]);
const got = { alice: new Map(), bob: new Map() };
let phase = 'subscribing';

function record(user, channel, event, data) {
  const key = `${channel}/${event}`;
  log('event', { user, channel, event, data: plain(data) });
  const want = user === 'alice' ? wantA : wantB;
  if (!want.has(key)) fail(`${user} got an unexpected ${key}: ${JSON.stringify(data)}`);
  if (got[user].has(key)) fail(`${user} got ${key} twice`);
  if (!same(plain(data), want.get(key))) fail(`${user} got ${key} = ${JSON.stringify(data)}`);
  got[user].set(key, true);
  if (phase === 'triggered' && got.alice.size === wantA.size && got.bob.size === wantB.size) leave();
}

const A = connect('alice');
const subsA = {};
let B;
let bobPresence;
let aliceSocket;
A.onConnected((sid) => {
  aliceSocket = sid;
  log('connected', { user: 'alice', socket_id: sid });
});
let pending = 3;
for (const name of ['my-channel', 'private-room', 'presence-room']) {
  const ch = A.subscribe(name);
  subsA[name] = ch;
  ch.bind('pusher:subscription_error', (e) => fail(`alice: ${name} subscription_error ${JSON.stringify(e)}`));
  ch.bind('pusher:subscription_succeeded', () => {
    log('subscribed', { user: 'alice', channel: name, ...(name.startsWith('presence-') ? { members: members(ch) } : {}) });
    if (--pending === 0) joinBob();
  });
  for (const ev of ['my-event', 'multi', 'batch-1', 'batch-2', 'not-for-alice']) {
    ch.bind(ev, (d) => record('alice', name, ev, d));
  }
}
subsA['presence-room'].bind('pusher:member_added', (m) => {
  log('member_added', { user: 'alice', id: String(m.id), info: m.info });
  if (String(m.id) !== 'bob' || !same(m.info, { name: 'user bob' })) fail('alice saw the wrong member join');
  aliceSawBob = true;
  maybeTrigger();
});
subsA['presence-room'].bind('pusher:member_removed', (m) => {
  log('member_removed', { user: 'alice', id: String(m.id) });
  if (String(m.id) !== 'bob') fail('alice saw the wrong member leave');
  const mem = members(subsA['presence-room']);
  if (!same(mem.ids, ['alice']) || mem.count !== 1) fail(`members after bob left: ${JSON.stringify(mem)}`);
  log('OK');
  A.disconnect();
  setTimeout(() => process.exit(0), 100);
});

let bobReady = false;
let aliceSawBob = false;
function joinBob() {
  const mem = members(subsA['presence-room']);
  if (!same(mem, { me: 'alice', count: 1, ids: ['alice'] })) fail(`alice's members: ${JSON.stringify(mem)}`);
  B = connect('bob');
  B.onConnected((sid) => log('connected', { user: 'bob', socket_id: sid }));
  bobPresence = B.subscribe('presence-room');
  bobPresence.bind('pusher:subscription_error', (e) => fail(`bob: subscription_error ${JSON.stringify(e)}`));
  bobPresence.bind('pusher:subscription_succeeded', () => {
    const m = members(bobPresence);
    log('subscribed', { user: 'bob', channel: 'presence-room', members: m });
    if (!same(m, { me: 'bob', count: 2, ids: ['alice', 'bob'] })) fail(`bob's members: ${JSON.stringify(m)}`);
    bobReady = true;
    maybeTrigger();
  });
  for (const ev of ['my-event', 'not-for-alice']) bobPresence.bind(ev, (d) => record('bob', 'presence-room', ev, d));
}

async function maybeTrigger() {
  if (!(bobReady && aliceSawBob) || phase !== 'subscribing') return;
  phase = 'triggering';
  const results = [];
  results.push(await api.trigger('my-channel', 'my-event', { hello: 'public' }));
  results.push(await api.trigger('private-room', 'my-event', { hello: 'private' }));
  results.push(await api.trigger('presence-room', 'my-event', { hello: 'presence', n: 3 }));
  results.push(await api.trigger(['my-channel', 'private-room'], 'multi', { multi: true }));
  results.push(await api.trigger('presence-room', 'not-for-alice', { excluded: 'alice' }, { socket_id: aliceSocket }));
  results.push(await api.triggerBatch([
    { channel: 'my-channel', name: 'batch-1', data: { b: 1 } },
    { channel: 'private-room', name: 'batch-2', data: { b: 2 } },
  ]));
  const statuses = results.map((r) => r.status);
  log('triggered', { statuses });
  if (!statuses.every((s) => s === 200)) fail(`trigger statuses ${statuses}`);
  const users = await api.get({ path: '/channels/presence-room/users' });
  const body = await users.json();
  log('users', { status: users.status, body });
  if (users.status !== 200 || !same(body.users.map((u) => String(u.id)).sort(), ['alice', 'bob'])) fail('GET users');
  const channels = await api.get({ path: '/channels', params: { info: 'user_count', filter_by_prefix: 'presence-' } });
  const cbody = await channels.json();
  log('channels', { status: channels.status, body: cbody });
  if (channels.status !== 200 || !cbody.channels['presence-room'] || cbody.channels['presence-room'].user_count !== 2) {
    fail('GET channels');
  }
  phase = 'triggered';
  if (got.alice.size === wantA.size && got.bob.size === wantB.size) leave();
}

let left = false;
function leave() {
  if (left) return;
  left = true;
  // give a wrongly delivered excluded event a moment to arrive before bob leaves
  setTimeout(() => { log('bob_leaves'); B.disconnect(); }, 300);
}
