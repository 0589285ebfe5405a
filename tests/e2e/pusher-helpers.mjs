// Helpers for the Pusher-protocol tests (pusher_*.test.mjs): unmodified laravel-echo 2 + pusher-js 8 in
// Node, a stand-in for Laravel's /broadcasting/auth that signs as Laravel does, the official `pusher`
// server SDK as the Laravel-side publisher, and a raw protocol client for byte-level checks.
//
// pusher-js runs its isomorphic ("worker") build with the `ws` package as its WebSocket and fetch() for
// auth requests, the same code paths as in a browser. The worker build reads `self`; in Node that is
// globalThis.
import crypto from 'node:crypto';
import http from 'node:http';
import WebSocket from 'ws';
import PusherServer from 'pusher';
import Echo from 'laravel-echo';
import { Kabar, startChild, startMosquitto, track, waitUntil, withTimeout } from './lib/harness.mjs';
import { WsClient } from './lib/clients.mjs';

globalThis.WebSocket ??= WebSocket;
globalThis.self ??= globalThis;
const { default: PusherJs } = await import('pusher-js/dist/worker/pusher.worker.js');

// Reverb's defaults, which kabar's default config serves (shared/seeds/reverb-websocket-dokumen.md).
export const LOCAL_APP = { id: 'local', key: 'local-key', secret: 'local-secret' };

export async function startStack({ apps, config = {} } = {}) {
  const broker = await startMosquitto();
  const kabar = await Kabar.create({ mqttPort: broker.port, config: apps ? { ...config, apps } : config });
  await kabar.start();
  return { broker, kabar };
}

export function hmac(secret, message) {
  return crypto.createHmac('sha256', secret).update(message).digest('hex');
}

// Laravel's /broadcasting/auth for an app: the user comes from the X-User header ("1:Ana"); private
// channels get {auth}, presence channels {auth, channel_data} with a string user_id, exactly as
// PusherBroadcaster::validAuthenticationResponse builds them. X-Wrong-Secret makes it sign badly.
export async function startAuthServer(app) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      const socketId = form.get('socket_id');
      const channel = form.get('channel_name');
      requests.push({ socketId, channel, user: req.headers['x-user'] });
      const [id, name] = String(req.headers['x-user'] || '').split(':');
      if (!id) { res.writeHead(403).end('{"message":"Unauthenticated."}'); return; }
      const secret = req.headers['x-wrong-secret'] ? 'not-the-secret' : app.secret;
      let reply;
      if (channel.startsWith('presence-')) {
        const channelData = JSON.stringify({ user_id: id, user_info: { id: Number(id), name } });
        reply = { auth: `${app.key}:${hmac(secret, `${socketId}:${channel}:${channelData}`)}`, channel_data: channelData };
      } else {
        reply = { auth: `${app.key}:${hmac(secret, `${socketId}:${channel}`)}` };
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const handle = {
    url: `http://127.0.0.1:${server.address().port}/broadcasting/auth`,
    requests,
    close: () => server.close(),
  };
  track(handle);
  return handle;
}

// new Echo({broadcaster: 'reverb', ...}) as resources/js/bootstrap.js of a Laravel app configures it.
export function makeEcho(kabar, { app = LOCAL_APP, user, authUrl, wrongSecret = false } = {}) {
  const headers = {};
  if (user) headers['X-User'] = user;
  if (wrongSecret) headers['X-Wrong-Secret'] = '1';
  const echo = new Echo({
    broadcaster: 'reverb',
    key: app.key,
    wsHost: '127.0.0.1',
    wsPort: kabar.port,
    wssPort: kabar.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    authEndpoint: authUrl,
    auth: { headers },
    Pusher: PusherJs,
  });
  track({ close: () => echo.disconnect() });
  return echo;
}

// Resolves with the socket id once pusher-js says "connected".
export async function connected(echo, timeout = 5000) {
  const connection = echo.connector.pusher.connection;
  await waitUntil(() => connection.state === 'connected', { timeout, what: `pusher-js connected (state ${connection.state})` });
  return echo.socketId();
}

// Resolves when Echo reports the channel subscribed; rejects on its error callback.
export function subscribed(channel, timeout = 5000) {
  return withTimeout(new Promise((resolve, reject) => {
    channel.subscribed(() => resolve());
    channel.error((error) => reject(new Error(`subscription error: ${JSON.stringify(error)}`)));
  }), timeout, 'Echo subscription');
}

// The official server SDK, configured as Laravel's config/broadcasting.php 'reverb' connection.
export function serverSdk(kabar, app = LOCAL_APP) {
  return new PusherServer({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(kabar.port), useTLS: false });
}

// A raw Pusher-protocol connection (frames as parsed JSON, plus the raw texts).
export async function rawPusher(kabar, { key = LOCAL_APP.key, query = '?protocol=7&client=js&version=8.6.0&flash=false', headers } = {}) {
  const client = new WsClient(`ws://127.0.0.1:${kabar.port}/app/${key}${query}`, headers ? { headers } : undefined);
  client.raw = [];
  client.ws.on('message', (data) => client.raw.push(data.toString()));
  await withTimeout(client.opened, 5000, 'Pusher WebSocket to open');
  return client;
}

export async function established(client) {
  const frame = await client.waitFrame((f) => f.event === 'pusher:connection_established', { what: 'connection_established' });
  return JSON.parse(frame.data).socket_id;
}

export function eventsNamed(client, event, channel) {
  return client.frames.filter((f) => f.event === event && (channel === undefined || f.channel === channel));
}

// Like Laravel: auth for a channel signed with the app secret.
export function authFor(app, socketId, channel, channelData) {
  const message = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${app.key}:${hmac(app.secret, message)}`;
}

// Signs a REST request as pusher-http-php does (auth_* query parameters, body_md5).
export function signedRestUrl(kabar, app, method, path, body = '', { timestamp = Math.floor(Date.now() / 1000), extra = {}, md5 } = {}) {
  const params = { auth_key: app.key, auth_timestamp: String(timestamp), auth_version: '1.0', ...extra };
  if (body) params.body_md5 = md5 ?? crypto.createHash('md5').update(body).digest('hex');
  const canonical = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const signature = hmac(app.secret, `${method}\n${path}\n${canonical}`);
  const query = new URLSearchParams({ ...params, auth_signature: signature });
  return `${kabar.httpBase}${path}?${query}`;
}

// mosquitto_sub on a topic filter, collecting "topic payload" lines.
export function mosquittoSub(port, filter) {
  const child = startChild('mosquitto_sub', 'mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-t', filter, '-v', '-q', '1']);
  return {
    child,
    lines: () => child.lines.filter((l) => !l.startsWith('spawn error')),
    stop: () => child.stop('SIGTERM', 2000),
  };
}
