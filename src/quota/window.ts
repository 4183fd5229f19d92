/**
 * Fixed windows aligned to the epoch: a window of W ms starting at floor(now / W) * W. Every
 * replica computes the same window from its own clock (keep them NTP-synchronised: a skew of
 * S ms moves the boundary by S ms for that replica). A counter's key names its window's start
 * and expires at its end, so nothing is ever reset by hand.
 */
export interface Window {
  /** Start of the window (ms since the epoch). */
  readonly start: number;
  /** End of the window, exclusive. */
  readonly end: number;
}

export function windowAt(nowMs: number, windowMs: number): Window {
  const start = Math.floor(nowMs / windowMs) * windowMs;
  return { start, end: start + windowMs };
}

/** Whole seconds until the window ends (at least 1): the `retry-after` of a deny. */
export function secondsLeft(nowMs: number, end: number): number {
  return Math.max(1, Math.ceil((end - nowMs) / 1000));
}
