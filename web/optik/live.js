// The only file of the dashboard that talks to kabar.js (served by kabar at /kabar.js), so a change in
// its signature is adjusted here. Also the history call used after a reset.

import { api } from '/assets/api.js';

export const BACKOFF = { baseMs: 1000, capMs: 30_000, maxAttempts: 5 };
// How long the tab may be hidden before the stream is closed (`paused`): 30 s, or `?pause_ms=N` in the page's
// address (N ms; 0: never), so a test or a curious user need not wait half a minute.
const pauseParam = new URLSearchParams(location.search).get('pause_ms');
export const HIDDEN_PAUSE_MS = pauseParam !== null && /^\d{1,9}$/.test(pauseParam) ? Number(pauseParam) : 30_000;

/**
 * Opens one kabar.js client over /sse. onStatus(status, detail) receives connecting | live |
 * reconnecting | paused | offline | polling, and detail {attempt, delayMs, reason, transport}. Returns
 * {subscribe(channel, {since, onEvent, onReset, onError}) -> unsubscribe (or subscribe({topic, since, ...})),
 * retry(), close()}. Frames are {type: 'event', channel, event, id, position, data, time, topic}. kabar.js keeps each channel's position in
 * localStorage, so a reload resumes where the page left (since only counts on a browser's first visit).
 */
export async function openLive({ getToken, onStatus }) {
  const { Kabar } = await import('/kabar.js');
  const kabar = new Kabar({
    url: location.origin,
    transport: 'sse',
    getToken,
    backoff: BACKOFF,
    hiddenPauseMs: HIDDEN_PAUSE_MS,
  });
  kabar.onStatus(onStatus);
  return {
    // subscribe(channel, options), or subscribe({topic, ...options}): an MQTT topic filter's channels.
    subscribe(channel, o = {}) {
      if (channel && typeof channel === 'object') return kabar.subscribe(withSince(channel, { topic: channel.topic }));
      return kabar.subscribe(channel, withSince(o, {}));
    },
    retry: () => kabar.retry(),
    close: () => kabar.close(),
  };
}

function withSince({ since, onEvent, onReset, onError }, options) {
  Object.assign(options, { onEvent, onReset, onError });
  if (since !== undefined) options.since = since;
  return options;
}

/** GET /api/history?channel=C&since=latest -> the frames (oldest first), for a refetch after a reset. */
export async function latestFrames(channel, token) {
  const answer = await api(`/api/history?channel=${encodeURIComponent(channel)}&since=latest`, { token });
  return Array.isArray(answer?.frames) ? answer.frames : [];
}
