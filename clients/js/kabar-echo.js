// kabar's replay extension for pusher-js and Laravel Echo: events missed while disconnected (a dropped
// connection, a restarted server, a reloaded page) are delivered after the reconnect, once, in order.
//
//   import { withKabarReplay } from 'kabar-client/echo';
//   window.Echo = new Echo({ broadcaster: 'reverb', ..., Pusher: withKabarReplay(Pusher) });
//
// A plain ES module without dependencies: the app hands in its own pusher-js (the class, or a ready
// instance). What it does, per Pusher instance (docs/pusher.md "Missed events with Laravel Echo"):
//
// * remembers the `position` of the last event of each channel (kabar adds it to every event frame) in
//   memory and in a storage (localStorage unless told otherwise), so it survives a reconnect and a reload;
// * adds it as `since` to every `pusher:subscribe` of that channel, the first one and the ones pusher-js
//   sends after each reconnect (public, private, presence: the auth signature does not cover `since`);
// * drops an event whose position is not after the one remembered (an overlap is never delivered twice);
// * on `kabar:reset` (history does not cover `since`) forgets the channel's position and keeps the
//   reset's; pusher-js hands the reset to the channel's bindings as `{reason, position}`, so
//   `Echo.channel(c).listen('.kabar:reset', e => ...)` is where the app refetches its state.
//
// Client events (whispers), `pusher:` and `pusher_internal:` frames carry no position and pass untouched.
//
// Why it hooks where it does: pusher-js decodes a frame into {event, channel, data, user_id} and drops every
// other member, `position` included, before any public hook (connection 'message', channel bind,
// bind_global) sees it. The first per-instance place where the raw frame is visible is the transport of
// the live connection (`pusher.connection.connection.transport`), whose onMessage() receives every frame
// of the socket. The add-on wraps that method on the transport object of each new connection (on every
// 'connected', and before each subscribe leaves), and `send_event` on the Pusher instance; nothing
// global, so a Pusher without the add-on in the same page behaves as before.

const RESET_EVENT = 'kabar:reset';
const SUCCEEDED_EVENT = 'pusher_internal:subscription_succeeded';
const POSITION_RE = /^([^:\s]+):(\d+)(?::[\w.:-]{1,128})?$/;  // the event id lets another node resume

// true when position `a` comes after `b`, or when that cannot be told (unreadable, other epoch: the
// server is then the judge; it answers such a `since` with a reset).
export function isAfter(a, b) {
  const pa = POSITION_RE.exec(a);
  const pb = POSITION_RE.exec(b);
  if (!pa || !pb || pa[1] !== pb[1]) return true;
  const sa = pa[2].replace(/^0+(?=\d)/, '');
  const sb = pb[2].replace(/^0+(?=\d)/, '');
  return sa.length !== sb.length ? sa.length > sb.length : sa > sb;  // digit strings: any size
}

// Frames whose position means something: the app's events, not whispers or protocol frames.
function isStoredEvent(event) {
  return !event.startsWith('pusher:') && !event.startsWith('pusher_internal:') && !event.startsWith('client-');
}

function memoryStorage() {
  const map = new Map();
  return {
    getItem: (key) => (map.has(key) ? map.get(key) : null),
    setItem: (key, value) => { map.set(key, String(value)); },
    removeItem: (key) => { map.delete(key); },
  };
}

// localStorage when the page has one it may use (reading it throws in some sandboxed frames), otherwise
// memory: positions then survive reconnects but not reloads.
function defaultStorage() {
  try {
    const storage = globalThis.localStorage;
    if (storage && typeof storage.getItem === 'function') return storage;
  } catch { /* SecurityError: no storage for this page */ }
  return memoryStorage();
}

function resolveStorage(storage) {
  if (storage === undefined) return defaultStorage();
  if (storage === null) return memoryStorage();
  for (const method of ['getItem', 'setItem', 'removeItem']) {
    if (typeof storage[method] !== 'function') throw new TypeError(`withKabarReplay: options.storage has no ${method}()`);
  }
  return storage;
}

function warn(message) {
  if (typeof console !== 'undefined' && console.warn) console.warn(`kabar-echo: ${message}`);
}

// Adds the replay extension to one Pusher instance (idempotent). Returns the instance.
function install(pusher, { storage, prefix: givenPrefix }) {
  if (pusher.kabarReplay) return pusher;
  if (!pusher.connection || typeof pusher.connection.bind !== 'function' || typeof pusher.send_event !== 'function') {
    throw new TypeError('withKabarReplay: this is not a pusher-js instance (no connection / send_event)');
  }
  const prefix = givenPrefix ?? `kabar:${pusher.key}:`;
  const positions = new Map();  // channel -> the position of the last event this instance delivered
  let hookFailed = false;       // pusher-js internals not found: behave as without the add-on

  const keyOf = (channel) => prefix + channel;
  // Storage is a convenience: a full or refused storage costs persistence across reloads, never events.
  const read = (channel) => {
    try {
      const value = storage.getItem(keyOf(channel));
      return typeof value === 'string' && value !== '' ? value : null;
    } catch { return null; }
  };
  const write = (channel, position) => {
    try { storage.setItem(keyOf(channel), position); } catch { /* quota, private mode */ }
  };
  const remove = (channel) => {
    try { storage.removeItem(keyOf(channel)); } catch { /* ignore */ }
  };
  const remember = (channel, position) => {
    positions.set(channel, position);
    write(channel, position);
  };

  // The position a (re)subscribe resumes from: this instance's own, else the stored one (a reload). Each
  // instance keeps its own, so two tabs sharing localStorage never drop each other's events.
  const since = (channel) => {
    if (!positions.has(channel)) {
      const stored = read(channel);
      if (stored === null) return null;
      positions.set(channel, stored);
    }
    return positions.get(channel);
  };

  // Decides on one raw frame: false drops it, true lets pusher-js handle it as usual.
  const admit = (text) => {
    // Cheap test first: only event frames with a position and resets are looked at.
    if (typeof text !== 'string' || (!text.includes('"position"') && !text.includes(RESET_EVENT))) return true;
    let frame;
    try { frame = JSON.parse(text); } catch { return true; }
    if (!frame || typeof frame !== 'object' || typeof frame.event !== 'string' || typeof frame.channel !== 'string') return true;
    const { channel } = frame;
    if (frame.event === RESET_EVENT) {
      let data = frame.data;
      if (typeof data === 'string') {
        try { data = JSON.parse(data); } catch { data = null; }
      }
      positions.delete(channel);
      remove(channel);
      if (data && typeof data.position === 'string' && data.position !== '') remember(channel, data.position);
      return true;
    }
    if (frame.event === SUCCEEDED_EVENT) {
      // kabar says where a subscription starts: a channel that has no position yet (first visit, no event
      // so far) resumes from there, so what is published before its first event is not lost.
      if (typeof frame.position === 'string' && frame.position !== '' && since(channel) === null) {
        remember(channel, frame.position);
      }
      return true;
    }
    if (typeof frame.position !== 'string' || !isStoredEvent(frame.event)) return true;
    const last = positions.get(channel);
    if (last !== undefined && !isAfter(frame.position, last)) return false;  // delivered already
    remember(channel, frame.position);
    return true;
  };

  const hooked = new WeakSet();
  const hookTransport = () => {
    const connection = pusher.connection.connection;
    if (!connection) return;  // not connected (yet): nothing to wrap
    const transport = connection.transport;
    if (!transport || typeof transport.onMessage !== 'function') {
      if (!hookFailed) warn('pusher-js internals not found (connection.connection.transport.onMessage): replay is off');
      hookFailed = true;
      return;
    }
    if (hooked.has(transport)) return;
    hooked.add(transport);
    const onMessage = transport.onMessage;
    transport.onMessage = function kabarReplayOnMessage(message) {
      if (admit(message && message.data)) return onMessage.call(this, message);
      return undefined;
    };
  };
  // pusher-js binds its own 'connected' handler (which resubscribes every channel) first; the subscribe
  // frames leave asynchronously, so the transport is wrapped before any answer can arrive.
  pusher.connection.bind('connected', hookTransport);
  if (pusher.connection.state === 'connected') hookTransport();

  const sendEvent = pusher.send_event;
  pusher.send_event = function kabarReplaySendEvent(name, data, channel) {
    if (name === 'pusher:subscribe' && data && typeof data.channel === 'string') {
      hookTransport();  // a subscribe leaves only on a live connection: its answers must be seen
      const position = hookFailed ? null : since(data.channel);
      if (position !== null) data = { ...data, since: position };
    }
    return sendEvent.call(this, name, data, channel);
  };

  Object.defineProperty(pusher, 'kabarReplay', {
    configurable: true,
    value: Object.freeze({
      // The position a resubscribe of `channel` would send: this instance's, else the stored one; or null.
      position: (channel) => (positions.has(channel) ? positions.get(channel) : read(channel)),
      // Forgets `channel` (memory and storage): its next subscribe takes live events only.
      forget: (channel) => { positions.delete(channel); remove(channel); },
      storageKey: keyOf,
    }),
  });
  return pusher;
}

// withKabarReplay(Pusher, options) -> a subclass of Pusher (for Echo's `Pusher` option or window.Pusher);
// withKabarReplay(pusherInstance, options) -> the same instance, extended (for Echo's `client` option).
export function withKabarReplay(PusherOrInstance, options = {}) {
  if (options === null || typeof options !== 'object') throw new TypeError('withKabarReplay: options must be an object');
  if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new TypeError('withKabarReplay: options.prefix must be a string');
  const settings = { storage: resolveStorage(options.storage), prefix: options.prefix };
  if (typeof PusherOrInstance === 'function') {
    const Pusher = PusherOrInstance;
    const KabarPusher = class extends Pusher {
      constructor(...args) {
        super(...args);
        install(this, settings);
      }
    };
    Object.defineProperty(KabarPusher, 'name', { value: `KabarReplay(${Pusher.name || 'Pusher'})` });
    return KabarPusher;
  }
  if (PusherOrInstance && typeof PusherOrInstance === 'object') return install(PusherOrInstance, settings);
  throw new TypeError('withKabarReplay: pass the Pusher class (the pusher-js default export) or a Pusher instance');
}

export default withKabarReplay;
