import * as v from 'valibot';
import { AppError } from '../shared/app-error.ts';
import { nonEmptyText } from '../shared/schema-fields.ts';

/**
 * Injected faults. A fault applies to API calls that passed the signature and quota checks and
 * match its scope (action, region, page, key); it applies `times` times (default 1, `Infinity`
 * until removed), counted when it takes effect. For one call:
 * 1. every matching `latency` fault adds its delay;
 * 2. the first matching `throttle`, `error`, `hang` or `reset` fault answers instead of the API;
 * 3. otherwise, on a successful answer, every matching `missing-field`, `patch-item`,
 *    `extra-fields`, `numeric-counts` and `malformed-json` fault reshapes the body (in that order),
 *    and every matching `drift` fault changes the region after the page has been read;
 * 4. a matching `hold` fault then keeps the answer (already read: the region as it was) until the
 *    test releases it, so a listing can be made to commit after a newer one.
 * An answer that is an API error (bad parameter, say) is never reshaped.
 */

export const FAULT_KINDS = [
  'throttle',
  'error',
  'latency',
  'hang',
  'reset',
  'malformed-json',
  'missing-field',
  'drift',
  'numeric-counts',
  'extra-fields',
  'patch-item',
  'hold',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

export const THROTTLING_CODES = ['Throttling.User', 'Throttling', 'Throttling.Api'] as const;
export type ThrottlingCode = (typeof THROTTLING_CODES)[number];

/** Which calls a fault applies to; every field left out matches anything. */
export interface FaultScope {
  /** `ListCustomImages` or `ListRegions`. */
  action?: string;
  regionId?: string;
  /** A ListCustomImages page (PageNumber, 1 when not sent). Never matches ListRegions. */
  pageNumber?: number;
  accessKeyId?: string;
  /** How many calls it affects: default 1, `Infinity` (JSON: `"Infinity"`) until removed. */
  times?: number;
}

export type FaultEffect =
  /** `Throttling.User` (or `code`) with 400; with `timeLeftMs`, the `x-ratelimit-user-api` wait hint. */
  | { kind: 'throttle'; code?: ThrottlingCode; timeLeftMs?: number }
  /** Any error answer; `message` defaults to the code's usual message. */
  | { kind: 'error'; status: number; code: string; message?: string }
  /** Delays the answer by `ms` (real time, not the simulator's clock). */
  | { kind: 'latency'; ms: number }
  /** Never answers; the socket stays open until the client gives up or the simulator closes. */
  | { kind: 'hang' }
  /** Resets the connection (TCP RST) instead of answering. */
  | { kind: 'reset' }
  /** 200 with the JSON body cut in half. */
  | { kind: 'malformed-json' }
  /**
   * Drops `field` from the item at `index` (default 0) of the page (`CustomImages`, or `Regions`
   * for ListRegions), or with `target: 'body'` from the body itself (e.g. `TotalCount`).
   */
  | { kind: 'missing-field'; field: string; index?: number; target?: 'item' | 'body' }
  /**
   * ListCustomImages only: after page `pageNumber` (of the scope; any page when unset) has been
   * read, removes `remove` images listed on pages up to it (from the top of the listing) and adds
   * `add` new images (created now, so at the top). Default: remove 1. The next page then reports
   * another `TotalCount`, and after a removal an image slides onto a page already read: skipped.
   * With `addAt: 'end'` the new images are listed last instead (created before every other: the
   * API's order is not documented), so one removed and one added keep `TotalCount` while the
   * image at the page boundary is skipped all the same.
   */
  | { kind: 'drift'; remove?: number; add?: number; addAt?: 'top' | 'end' }
  /** ListCustomImages only: `TotalCount`, `PageSize`, `PageNumber` as JSON numbers instead of strings. */
  | { kind: 'numeric-counts' }
  /** Unknown fields on the body and on every item; defaults are plausible future API fields. */
  | { kind: 'extra-fields'; bodyFields?: Record<string, unknown>; itemFields?: Record<string, unknown> }
  /**
   * ListCustomImages only: the item at `index` (default 0) of the page gets `fields` set (any JSON
   * values: wrong types, huge or hostile text), or is replaced by `item` (any JSON value).
   */
  | { kind: 'patch-item'; index?: number; fields?: Record<string, unknown>; item?: unknown }
  /** Holds the answer, read already, until released (`SimulatorAdmin.releaseFault`). */
  | { kind: 'hold' };

export type Fault = FaultEffect & FaultScope;

/** An injected fault with its id, the calls it may still affect and the calls it affected. */
export type ActiveFault = Fault & { id: string; remaining: number; applied: number };

/** The call a fault is matched against. */
export interface FaultContext {
  action: string;
  regionId: string | null;
  pageNumber: number | null;
  accessKeyId: string;
}

export interface FaultRegistry {
  /** Validates and adds a fault; throws `simulator.invalid_fault` listing the problems. */
  inject(fault: unknown): string;
  list(): ActiveFault[];
  remove(id: string): boolean;
  clear(): void;
  /** Active faults matching the call, in injection order. Does not use them up. */
  matching(context: FaultContext): ActiveFault[];
  /** Uses the fault once; false when it is gone or used up (a concurrent call took it). */
  take(id: string): boolean;
  /** Resolves when the `hold` fault `id` is released (at once if it already was). */
  held(id: string): Promise<void>;
  /** How many answers the `hold` fault `id` is holding now. */
  holding(id: string): number;
  /** Lets every answer held by `id` go, now and later; false for an unknown id. */
  release(id: string): boolean;
}

const LIST_CUSTOM_IMAGES_ONLY: ReadonlySet<FaultKind> = new Set(['drift', 'numeric-counts', 'patch-item']);

const count = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  v.pipe(v.number(), v.safeInteger(), v.minValue(min), v.maxValue(max));

const scopeShape = {
  action: v.optional(nonEmptyText),
  regionId: v.optional(nonEmptyText),
  pageNumber: v.optional(count(1)),
  accessKeyId: v.optional(nonEmptyText),
};
const fieldsRecord = v.record(v.string(), v.unknown());

const faultSchema = v.variant('kind', [
  v.strictObject({
    ...scopeShape,
    kind: v.literal('throttle'),
    code: v.optional(v.picklist(THROTTLING_CODES)),
    timeLeftMs: v.optional(count(0)),
  }),
  v.strictObject({
    ...scopeShape,
    kind: v.literal('error'),
    status: count(400, 599),
    code: nonEmptyText,
    message: v.optional(v.string()),
  }),
  v.strictObject({ ...scopeShape, kind: v.literal('latency'), ms: count(0, 600_000) }),
  v.strictObject({ ...scopeShape, kind: v.literal('hang') }),
  v.strictObject({ ...scopeShape, kind: v.literal('reset') }),
  v.strictObject({ ...scopeShape, kind: v.literal('malformed-json') }),
  v.strictObject({
    ...scopeShape,
    kind: v.literal('missing-field'),
    field: nonEmptyText,
    index: v.optional(count(0)),
    target: v.optional(v.picklist(['item', 'body'])),
  }),
  v.strictObject({
    ...scopeShape,
    kind: v.literal('drift'),
    remove: v.optional(count(0)),
    add: v.optional(count(0)),
    addAt: v.optional(v.picklist(['top', 'end'])),
  }),
  v.strictObject({ ...scopeShape, kind: v.literal('numeric-counts') }),
  v.strictObject({
    ...scopeShape,
    kind: v.literal('patch-item'),
    index: v.optional(count(0)),
    fields: v.optional(fieldsRecord),
    item: v.optional(v.unknown()),
  }),
  v.strictObject({ ...scopeShape, kind: v.literal('hold') }),
  v.strictObject({
    ...scopeShape,
    kind: v.literal('extra-fields'),
    bodyFields: v.optional(fieldsRecord),
    itemFields: v.optional(fieldsRecord),
  }),
]);

function parseTimes(value: unknown): number | string {
  if (value === undefined) return 1;
  if (value === Infinity || value === 'Infinity') return Infinity;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value;
  return 'times: expected an integer ≥ 1 or Infinity';
}

/** Checks a fault given programmatically or as JSON (`times` may be the string "Infinity"). */
export function parseFault(input: unknown): { fault: Fault; times: number } {
  const problems: string[] = [];
  const { times: rawTimes, ...rest } = (typeof input === 'object' && input !== null ? input : {}) as Record<
    string,
    unknown
  >;
  const times = parseTimes(rawTimes);
  if (typeof times === 'string') problems.push(times);
  const parsed = v.safeParse(faultSchema, typeof input === 'object' && input !== null ? rest : input);
  if (!parsed.success) {
    for (const issue of parsed.issues) problems.push(`${v.getDotPath(issue) ?? 'fault'}: ${issue.message}`);
  }
  if (!parsed.success || typeof times === 'string') {
    throw new AppError('simulator.invalid_fault', `invalid fault: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  const fault = parsed.output as Fault;
  if (
    LIST_CUSTOM_IMAGES_ONLY.has(fault.kind) &&
    fault.action !== undefined &&
    fault.action !== 'ListCustomImages'
  ) {
    throw new AppError(
      'simulator.invalid_fault',
      `invalid fault: ${fault.kind} applies to ListCustomImages only`,
    );
  }
  return { fault, times };
}

function matches(fault: ActiveFault, context: FaultContext): boolean {
  if (fault.action !== undefined && fault.action !== context.action) return false;
  if (LIST_CUSTOM_IMAGES_ONLY.has(fault.kind) && context.action !== 'ListCustomImages') return false;
  if (fault.regionId !== undefined && fault.regionId !== context.regionId) return false;
  if (fault.pageNumber !== undefined && fault.pageNumber !== context.pageNumber) return false;
  if (fault.accessKeyId !== undefined && fault.accessKeyId !== context.accessKeyId) return false;
  return true;
}

export function createFaultRegistry(): FaultRegistry {
  const active = new Map<string, ActiveFault>();
  // Hold gates outlive their fault (a used-up fault leaves the active list while it holds).
  const gates = new Map<string, { released: Promise<void>; release: () => void; holding: number }>();
  let nextId = 1;
  const gate = (id: string) => {
    let entry = gates.get(id);
    if (entry === undefined) {
      const { promise, resolve } = Promise.withResolvers<void>();
      entry = { released: promise, release: resolve, holding: 0 };
      gates.set(id, entry);
    }
    return entry;
  };
  return {
    held: async (id) => {
      const entry = gate(id);
      entry.holding++;
      try {
        await entry.released;
      } finally {
        entry.holding--;
      }
    },
    holding: (id) => gates.get(id)?.holding ?? 0,
    release: (id) => {
      if (!gates.has(id) && !active.has(id)) return false;
      gate(id).release();
      return true;
    },
    inject: (input) => {
      const { fault, times } = parseFault(input);
      const id = `f${nextId++}`;
      active.set(id, { ...fault, times, id, remaining: times, applied: 0 });
      return id;
    },
    list: () => [...active.values()].map((fault) => structuredClone(fault)),
    remove: (id) => active.delete(id),
    clear: () => active.clear(),
    matching: (context) => [...active.values()].filter((fault) => matches(fault, context)),
    take: (id) => {
      const fault = active.get(id);
      if (fault === undefined) return false;
      fault.remaining -= 1;
      fault.applied += 1;
      if (fault.remaining <= 0) active.delete(id);
      return true;
    },
  };
}
