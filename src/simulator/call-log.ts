import type { SignatureScheme } from './request-auth.ts';

/** One API call the simulator handled (admin calls are not logged). */
export interface CallRecord {
  /** 1, 2, … in the order the answers were decided. */
  seq: number;
  /** The simulator clock's time (epoch ms) when the answer was decided. */
  at: number;
  requestId: string;
  method: string;
  scheme: SignatureScheme;
  /** Null when the request named no action. */
  action: string | null;
  /** The key the request claimed, known or not; null when it sent none. */
  accessKeyId: string | null;
  regionId: string | null;
  /** As sent (null when absent or not a positive integer), not the defaults. */
  pageNumber: number | null;
  pageSize: number | null;
  /** Null when no answer was sent (`hang`, `reset`). */
  status: number | null;
  /** The API error code; null on success and for `hang`/`reset`. */
  code: string | null;
  /** Kinds of the injected faults that took effect on this call. */
  faults: string[];
}

export interface CallLog {
  record(call: Omit<CallRecord, 'seq'>): void;
  list(): CallRecord[];
  reset(): void;
}

/** Keeps the latest `capacity` calls (default 10,000), so a long-running demo stays bounded. */
export function createCallLog(capacity = 10_000): CallLog {
  let calls: CallRecord[] = [];
  let seq = 0;
  return {
    record: (call) => {
      calls.push({ seq: ++seq, ...call, faults: [...call.faults] });
      if (calls.length > capacity) calls = calls.slice(-capacity);
    },
    list: () => calls.map((call) => ({ ...call, faults: [...call.faults] })),
    reset: () => {
      calls = [];
    },
  };
}
