// Types of kabar.js (docs/clients.md). Frames follow docs/protocol.md.

/** A stored position, "<epoch>:<seq>:<event id>" (or "<epoch>:<seq>" where no event is known). */
export type Position = string;

export interface EventFrame<T = unknown> {
  type: 'event';
  channel: string;
  event: string;
  id: string;
  position: Position;
  data: T;
  /** Unix ms */
  time: number;
  /** the MQTT topic the event came on (absent for events that did not come over MQTT) */
  topic?: string;
}

export type ResetReason = 'history_pruned' | 'epoch_changed' | 'position_ahead' | 'bad_position' | (string & {});

export interface ResetFrame {
  type: 'reset';
  channel: string;
  reason: ResetReason;
  position: Position;
}

/** An `error` frame of /ws, or an HTTP refusal of /sse or /api/history in the same shape (with `status`). */
export interface ErrorFrame {
  type: 'error';
  code: string;
  message?: string;
  reason?: string;
  channel?: string;
  /** the topic filter concerned (forbidden_topic, invalid_topic) */
  topic?: string;
  ref?: string | number;
  status?: number;
}

export type Status = 'connecting' | 'live' | 'reconnecting' | 'paused' | 'offline' | 'polling';

export interface StatusDetail {
  /** the transport concerned: 'ws', 'sse', or 'poll' (the /api/history fallback) */
  transport?: 'ws' | 'sse' | 'poll';
  /** why: 'closed', 'error', 'timeout', 'shutdown', 'getToken', 'max_attempts', 'network', 'fallback',
   * an HTTP refusal's reason ('expired', 'claim_mismatch'...), ... */
  reason?: string;
  /** consecutive failed attempts so far */
  attempt?: number;
  /** wait before the next attempt (reconnecting) */
  delayMs?: number;
  /** the WebSocket close code, or the HTTP status of a refused poll */
  code?: number;
  error?: unknown;
}

/** localStorage-like; positions are kept here (default: localStorage, else memory). */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface BackoffOptions {
  /** first reconnect waits up to this (full jitter: random in [0, min(capMs, baseMs * 2^attempt)]). Default 500 */
  baseMs?: number;
  /** Default 30000 */
  capMs?: number;
  /** consecutive failed attempts after which the status is `offline` until retry(). Default Infinity */
  maxAttempts?: number;
}

export interface FallbackOptions {
  /** failures of each transport (never live in this session) before the next: ws/sse, then polling. Default 2 */
  after?: number;
  /** while polling, try a stream again this often. Default 30000 */
  probeMs?: number;
  /** `limit` of each /api/history request. Default 200 */
  limit?: number;
}

export interface KabarOptions {
  /** the gateway's base URL (http/https); default location.origin */
  url?: string;
  /** Default 'sse' */
  transport?: 'sse' | 'ws';
  /** the JWT to present, or null for anonymous; called at every connect, before expiry, and when refused */
  getToken?: () => string | null | Promise<string | null>;
  /** where positions are kept; null: memory only. Default localStorage */
  storage?: PositionStorage | null;
  /** storage key prefix. Default 'kabar:' */
  prefix?: string;
  backoff?: BackoffOptions;
  /** close the connection after the page is hidden this long (status `paused`); 0: never. Default 30000 */
  hiddenPauseMs?: number;
  /** polling interval of the fallback. Default 3000 */
  pollMs?: number;
  /** a connection not live after this long counts as failed. Default 10000 */
  connectTimeoutMs?: number;
  /** false: never poll. Default enabled */
  fallback?: boolean | FallbackOptions;
  /** where malformed frames and handler exceptions are reported (`warn`). Default console */
  logger?: { warn(...args: unknown[]): void };
  // Injected globals (default: the browser's, from globalThis)
  WebSocket?: unknown;
  EventSource?: unknown;
  fetch?: (input: string, init?: unknown) => Promise<unknown>;
  /** for visibilitychange; null: no pause */
  document?: unknown;
  /** for online/offline; null: not watched */
  window?: unknown;
}

export interface SubscribeOptions<T = unknown> {
  /** only when no position is stored for the channel: live only (undefined), 'earliest' (everything
   * retained) or 'latest' (the newest stored event, then live) */
  since?: 'earliest' | 'latest';
  onEvent?: (frame: EventFrame<T>) => void;
  onReset?: (channel: string, reason: ResetReason, frame: ResetFrame) => void;
  onError?: (frame: ErrorFrame) => void;
}

/** A topic subscription: the events of every channel whose events came on MQTT topics matching `topic`
 * (MQTT filter: '+' one level, a final '#' the rest), judged by the policy as the broker judges that
 * SUBSCRIBE. Resets name the channel concerned. Not served by the polling fallback. */
export interface TopicSubscribeOptions<T = unknown> extends SubscribeOptions<T> {
  topic: string;
}

export type Unsubscribe = () => void;

export class Kabar {
  constructor(options?: KabarOptions);
  readonly status: Status;
  readonly url: string;
  /** Subscribes (connecting on the next microtask if connect() was not called); returns the unsubscribe. */
  subscribe<T = unknown>(channel: string, options?: SubscribeOptions<T>): Unsubscribe;
  subscribe<T = unknown>(options: TopicSubscribeOptions<T>): Unsubscribe;
  onEvent(fn: (frame: EventFrame) => void): Unsubscribe;
  onReset(fn: (channel: string, reason: ResetReason, frame: ResetFrame) => void): Unsubscribe;
  onStatus(fn: (status: Status, detail: StatusDetail) => void): Unsubscribe;
  onError(fn: (frame: ErrorFrame) => void): Unsubscribe;
  connect(): void;
  retry(): void;
  close(): void;
}

/** true when the MQTT topic matches the filter, as the broker matches it */
export function topicMatches(filter: string, topic: string): boolean;

/** true when position a comes after b (same epoch: by seq; another epoch counts as after; b empty: true) */
export function isAfter(a: Position, b?: Position | null): boolean;

export default Kabar;
