export interface BackoffOptions {
  /** Delay of the first retry before jitter, in ms. */
  baseMs: number;
  /** Upper bound of any one delay, in ms. */
  capMs: number;
}

/**
 * "Full jitter" exponential backoff (AWS architecture blog, "Exponential Backoff And Jitter"):
 * a uniform delay in [0, min(cap, base·2^attempt)). Spreads retries of many workers that failed
 * together instead of having them retry in lock-step. `attempt` is 0 for the first retry;
 * `random` returns [0, 1) and is injected so tests are deterministic.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}
