// Types of kabar-echo.js: kabar's replay extension for pusher-js and Laravel Echo.

/** What the add-on needs of a storage: localStorage and sessionStorage fit, so does any such object. */
export interface KabarPositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface KabarReplayOptions {
  /**
   * Where positions are kept across reloads. Default: `localStorage` when the page may use it, else
   * memory. `null`: memory only (positions survive reconnects, not reloads).
   */
  storage?: KabarPositionStorage | null;
  /** Prefix of the storage keys (a key is `prefix + channel`). Default: `kabar:<app key>:`. */
  prefix?: string;
}

/** A kabar position, `"<epoch>:<seq>:<event id>"` (or `"<epoch>:<seq>"` where no event is known; docs/protocol.md "Positions"). */
export type KabarPosition = string;

/**
 * Data of the `kabar:reset` event, which the add-on lets through to the channel:
 * `Echo.channel(name).listen('.kabar:reset', (reset: KabarReset) => refetch())`.
 * The history no longer covers what the client missed: refetch the state; live events follow from
 * `position`.
 */
export interface KabarReset {
  reason: 'history_pruned' | 'epoch_changed' | 'position_ahead' | 'bad_position' | (string & {});
  position: KabarPosition;
}

/** Added to every Pusher instance the add-on extends, as `pusher.kabarReplay`. */
export interface KabarReplayHandle {
  /** The position a (re)subscribe of `channel` sends as `since`: this instance's, else the stored one. */
  position(channel: string): KabarPosition | null;
  /** Forgets the channel's position (memory and storage): its next subscribe takes live events only. */
  forget(channel: string): void;
  /** The storage key of `channel`. */
  storageKey(channel: string): string;
}

type PusherConstructor = abstract new (...args: any[]) => object;

/**
 * Given the pusher-js class (`import Pusher from 'pusher-js'`), returns a subclass whose instances resume
 * every channel from its last position; pass it as Echo's `Pusher` option (or as `window.Pusher`).
 */
export function withKabarReplay<C extends PusherConstructor>(
  Pusher: C,
  options?: KabarReplayOptions,
): (new (...args: ConstructorParameters<C>) => InstanceType<C> & { readonly kabarReplay: KabarReplayHandle }) & C;

/** Given a Pusher instance (Echo's `client` option), extends it and returns it. */
export function withKabarReplay<P extends object>(
  pusher: P,
  options?: KabarReplayOptions,
): P & { readonly kabarReplay: KabarReplayHandle };

/** True when position `a` comes after `b`, or when that cannot be told (unreadable, other epoch). */
export function isAfter(a: KabarPosition, b: KabarPosition): boolean;

export default withKabarReplay;
