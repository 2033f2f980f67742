import { type Logger, pino } from 'pino';
import * as v from 'valibot';
import packageJson from '../../package.json' with { type: 'json' };
import { Agent, type Dispatcher, request } from '../http/undici.ts';
import { isAppError } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import { displayText } from '../shared/display-text.ts';
import type { IdSource } from '../shared/ids.ts';
import type { Secret } from '../shared/secret.ts';
import type { KnownHashes, ListedImage, Listing, RejectedItem } from '../sync/model.ts';
import {
  abortedError,
  apiError,
  attemptTimeoutError,
  badArgumentError,
  type CallContext,
  invalidResponseError,
  malformedResponseError,
  transportError,
} from './errors.ts';
import { readApiJsonBytes } from './json-reader.ts';
import {
  type CustomImagesPage,
  IMAGE_IDS_PER_CALL,
  LISTING_PAGE_SIZE,
  type PageRead,
  type PageReader,
  type PageRequest,
  readFullListing,
  readWatchListing,
} from './listing.ts';
import type { RateBudget, RateKey, RatePermit } from './rate-budget.ts';
import { DEFAULT_RETRY_POLICY, type RetryPolicy, runWithRetries, serverRetryDelayMs } from './retry.ts';
import { canonicalQueryString, formatAcsDate, signAcs3 } from './signer.ts';
import {
  API_VERSION,
  decodeItem,
  isRejected,
  listCustomImagesResponseSchema,
  listRegionsResponseSchema,
  type Region,
} from './wire.ts';

/**
 * The SWAS API client: ListRegions and ListCustomImages as the official SDK sends them:
 * `POST /` of the region's endpoint, business parameters in the query,
 * empty body, ACS3-HMAC-SHA256 headers. Every attempt spends the account's rate budget
 * (`${account}:${action}`), runs under a per-attempt deadline, and is retried by our own loop
 * (retry.ts) when errors.ts classifies its failure as retryable.
 */

export type { CustomImagesPage } from './listing.ts';

export interface SwasCredentials {
  accessKeyId: string;
  accessKeySecret: Secret;
  securityToken?: Secret | undefined;
}

export interface SwasClientDeps {
  dispatcher: Dispatcher;
  clock: Clock;
  /** `nonce()` gives each attempt's `x-acs-signature-nonce`. */
  ids: IdSource;
  /** [0, 1), for backoff jitter. */
  random: () => number;
  rateBudget: RateBudget;
  logger?: Logger | undefined;
  /** Counters and timings of the calls; none by default. */
  metrics?: SwasClientMetrics | undefined;
}

/**
 * What the client reports about its calls. A port, so `swas/` stays free of the metrics library:
 * observability/metrics.ts provides one.
 */
export interface SwasClientMetrics {
  /** One HTTP attempt ended: `outcome` is `ok` or the error code without `swas.` (`throttled`, `timeout`, …). */
  apiCall(labels: { account: string; action: string; outcome: string }): void;
  /** The server answered `Throttling*`. */
  throttled(labels: { account: string; action: string }): void;
  /** Time an attempt waited for the rate budget, in seconds. */
  budgetWait(labels: { account: string; action: string }, seconds: number): void;
}

const NO_METRICS: SwasClientMetrics = {
  apiCall: () => undefined,
  throttled: () => undefined,
  budgetWait: () => undefined,
};

export interface SwasRetryOptions {
  /** Attempts per call, the first included. Default 6. */
  maxAttempts?: number | undefined;
  /** First backoff before jitter, ms. Default 500. */
  baseMs?: number | undefined;
  /** Cap of one backoff, ms. Default 20 000. */
  capMs?: number | undefined;
  /** Time budget of one call's retries, ms. Default 120 000. */
  maxElapsedMs?: number | undefined;
}

export interface SwasClientOptions {
  /** The configured account name: rate-budget key and log field. */
  account: string;
  /**
   * Endpoint template, `{region}` optional: `https://swas.{region}.aliyuncs.com` (the default of
   * SWAS_ENDPOINT) or `http://127.0.0.1:PORT` (the simulator). Only its origin is used; the path
   * is always `/`.
   */
  endpoint: string;
  credentials: SwasCredentials;
  retry?: SwasRetryOptions | undefined;
  /** Deadline of one attempt (budget wait excluded), headers and body included, ms. Default 30 000. */
  requestTimeoutMs?: number | undefined;
  /** Re-reads of a full listing that changed under paging. Default 2. */
  maxListingRereads?: number | undefined;
}

export interface ListCustomImagesPageRequest {
  regionId: string;
  /** From 1. */
  pageNumber: number;
  /** 1..100. */
  pageSize: number;
  /** At most 100 ids, sent as the `ImageIds` JSON array string. */
  imageIds?: readonly string[] | undefined;
  /** Called once, when the first attempt has gone out (after the rate budget granted it). */
  onSent?: (() => void) | undefined;
}

export interface SwasClient {
  /**
   * ListRegions. It takes no RegionId; the call goes to the endpoint template with `{region}` =
   * {@link LIST_REGIONS_HOST_REGION} (every public SWAS endpoint answers it), or to the template
   * as is when it has no `{region}`.
   */
  listRegions(signal?: AbortSignal): Promise<Region[]>;
  /** One ListCustomImages page, validated (retried as configured). */
  listCustomImagesPage(request: ListCustomImagesPageRequest, signal?: AbortSignal): Promise<CustomImagesPage>;
  /**
   * Every custom image of a region, with its completeness verdict (kind `full`). Items
   * whose hash matches `known` come back as ids and hashes only (`Listing.seen`).
   */
  listAllImages(
    regionId: string,
    signal?: AbortSignal,
    known?: KnownHashes | Promise<KnownHashes>,
  ): Promise<Listing>;
  /** The given images (kind `watch`, never complete), ≤ 100 ids per call. */
  listImagesByIds(regionId: string, imageIds: readonly string[], signal?: AbortSignal): Promise<Listing>;
}

/** The region whose endpoint serves ListRegions when the endpoint template has `{region}`. */
export const LIST_REGIONS_HOST_REGION = 'cn-hangzhou';
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const USER_AGENT = `swas-inventory/${packageJson.version} (Node.js ${process.version})`;

export interface SwasDispatcherOptions {
  /** TCP/TLS connect timeout, ms. Default 10 000. */
  connectTimeoutMs?: number;
  /** Time to receive the response headers, ms. Default 30 000. */
  headersTimeoutMs?: number;
  /** Time between body chunks, ms. Default 60 000. */
  bodyTimeoutMs?: number;
  /** Sockets per origin. Default 8 (the quota is 10 calls a minute per account and action). */
  connections?: number;
  /** Largest response accepted, bytes. Default 16 MiB (a 100-image page is ~100 KiB). */
  maxResponseSize?: number;
}

/**
 * The production dispatcher: an undici Agent with explicit timeouts instead of undici's 300 s
 * defaults. No retry interceptor: retries are the client's.
 */
export function createSwasDispatcher(options: SwasDispatcherOptions = {}): Agent {
  return new Agent({
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    headersTimeout: options.headersTimeoutMs ?? 30_000,
    bodyTimeout: options.bodyTimeoutMs ?? 60_000,
    connections: options.connections ?? 8,
    maxResponseSize: options.maxResponseSize ?? 16 * 1024 * 1024,
  });
}

const REGION_ID = /^[a-z0-9][a-z0-9-]*$/;

interface CallSpec<T> {
  context: CallContext;
  /** Another call of the same listing is expected after this one (see {@link PermitAhead}). */
  more?: boolean | undefined;
  /** Region whose endpoint is addressed. */
  hostRegion: string;
  query: Record<string, string>;
  /** Validates and converts a parsed body; throws AppErrors. */
  decode: (body: unknown, requestId: string | undefined) => T;
}

/** What a call learns of each of its attempts. */
interface AttemptHooks {
  /** The attempt goes out now: counted, and the listing's next permit may be asked for. */
  sending(): void;
  /** The attempt has been handed to the dispatcher. */
  dispatched(): void;
}

interface CallResult<T> {
  value: T;
  apiCalls: number;
}

/**
 * The permit of a listing's next call, asked for once the current call has gone out: the budget's
 * answer (a Redis round trip, or a wait for the window) then overlaps the call instead of sitting
 * between two pages. A reservation left when the listing ends is cancelled, so it never counts.
 */
interface PermitAhead {
  /** Starts asking for the next call's permit, unless a reservation is already waiting. */
  reserve(): void;
  /** Hands the reservation, if any, to the call that uses it. */
  take(): Promise<RatePermit> | undefined;
  /** Cancels a reservation no call took. */
  release(): void;
}

function permitAhead(budget: RateBudget, key: RateKey, signal: AbortSignal | undefined): PermitAhead {
  let reserved: Promise<RatePermit> | undefined;
  const take = () => {
    const permit = reserved;
    reserved = undefined;
    return permit;
  };
  return {
    reserve() {
      if (reserved !== undefined || signal?.aborted) return;
      reserved = budget.acquire(key, signal);
      // A failed reservation fails the call that takes it; none may be left unhandled meanwhile.
      reserved.catch(() => undefined);
    },
    take,
    release() {
      take()?.then(
        (permit) => permit.cancel(),
        () => undefined,
      );
    },
  };
}

/** `CustomImages[5].Tags[0].Key`. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, segment) =>
      typeof segment === 'number'
        ? `${text}[${segment}]`
        : text === ''
          ? String(segment)
          : `${text}.${String(segment)}`,
    '',
  );
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let current = root;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

/**
 * The first problem of a response that failed its schema as `Field.path: problem`: a missing field
 * reads `required`, a value of the wrong type `invalid value …`, any other the check's own words
 * and the value.
 */
function describeIssue(input: unknown, issues: readonly v.BaseIssue<unknown>[]): string {
  const issue = issues[0];
  if (!issue) return 'invalid';
  const path = (issue.path ?? []).map((item) => item.key as PropertyKey);
  const where = formatPath(path);
  const value = valueAt(input, path);
  if (value === undefined) return `${where}: required`;
  const shown = JSON.stringify(value)?.slice(0, 60);
  if (issue.kind === 'schema') return `${where}: invalid value ${shown}`;
  return `${where}: ${issue.message}, got ${shown}`;
}

/**
 * A ListCustomImages page whose items are decoded when the listing first reads them, after it
 * asked for the next page. A class, not an object literal of getters over closures: with those,
 * each page's parsed items lived on into the old generation (--trace-gc-nvp, 1,000 pages read one
 * by one: 74 MB promoted against 14 MB with the class), to be cleared by full collections.
 */
class ListedPage implements CustomImagesPage {
  readonly totalCount: number;
  readonly pageNumber: number;
  readonly pageSize: number;
  readonly requestId: string | undefined;
  readonly itemIds: readonly unknown[];
  #listed: readonly unknown[];
  #decoded: { items: ListedImage[]; rejected: RejectedItem[] } | undefined;
  readonly #regionId: string;
  readonly #requestedPage: number;

  constructor(
    listed: readonly unknown[],
    scope: { regionId: string; requestedPage: number; requestId: string | undefined },
    envelope: { totalCount: number; pageNumber: number; pageSize: number },
  ) {
    this.totalCount = envelope.totalCount;
    this.pageNumber = envelope.pageNumber;
    this.pageSize = envelope.pageSize;
    this.requestId = scope.requestId;
    this.#regionId = scope.regionId;
    this.#requestedPage = scope.requestedPage;
    this.#listed = listed;
    this.itemIds = listed.map((item) =>
      item !== null && typeof item === 'object' ? (item as { ImageId?: unknown }).ImageId : undefined,
    );
  }

  get items(): ListedImage[] {
    return this.#decode().items;
  }

  get rejected(): RejectedItem[] {
    return this.#decode().rejected;
  }

  #decode(): { items: ListedImage[]; rejected: RejectedItem[] } {
    if (this.#decoded !== undefined) return this.#decoded;
    const decoded: { items: ListedImage[]; rejected: RejectedItem[] } = { items: [], rejected: [] };
    const listed = this.#listed;
    for (let index = 0; index < listed.length; index++) {
      const image = decodeItem(listed[index], this.#regionId, { page: this.#requestedPage, index });
      if (isRejected(image)) decoded.rejected.push(image);
      else decoded.items.push(image);
    }
    this.#decoded = decoded;
    // Decoded once: the raw list is not read again (a listed image keeps its own raw item).
    this.#listed = [];
    return decoded;
  }
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

export function createSwasClient(deps: SwasClientDeps, options: SwasClientOptions): SwasClient {
  const policy: RetryPolicy = {
    maxAttempts: Math.max(1, options.retry?.maxAttempts ?? DEFAULT_RETRY_POLICY.maxAttempts),
    baseMs: options.retry?.baseMs ?? DEFAULT_RETRY_POLICY.baseMs,
    capMs: options.retry?.capMs ?? DEFAULT_RETRY_POLICY.capMs,
    maxElapsedMs: options.retry?.maxElapsedMs ?? DEFAULT_RETRY_POLICY.maxElapsedMs,
  };
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const metrics = deps.metrics ?? NO_METRICS;
  const rootLogger = (deps.logger ?? pino({ level: 'silent' })).child({
    component: 'swas',
    account: options.account,
  });
  const { credentials } = options;
  // Scrubbed from every error message (errors.ts); read once, never logged.
  const secrets = [credentials.accessKeySecret.reveal(), credentials.securityToken?.reveal() ?? ''].filter(
    (value) => value !== '',
  );

  const endpointFor = (hostRegion: string): URL => {
    const url = new URL(options.endpoint.replaceAll('{region}', hostRegion));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`SWAS endpoint must be http(s), got ${url.protocol}`);
    }
    return url;
  };
  endpointFor(LIST_REGIONS_HOST_REGION); // fail at construction on a bad template

  /** One HTTP attempt: spends the budget, sends, and reports its end and any throttle to the budget. */
  async function attempt<T>(
    spec: CallSpec<T>,
    attemptNumber: number,
    signal: AbortSignal | undefined,
    hooks: AttemptHooks,
    log: Logger,
    ahead: PermitAhead | undefined,
  ): Promise<T> {
    const { context } = spec;
    const key: RateKey = { account: options.account, action: context.action };
    const waitStartedAt = deps.clock.now();
    const reserved = attemptNumber === 1 ? ahead?.take() : undefined;
    let permit: RatePermit;
    try {
      permit = await (reserved ?? deps.rateBudget.acquire(key, signal));
    } catch (error) {
      if (signal?.aborted) throw abortedError(context, signal.reason);
      throw error;
    }
    metrics.budgetWait(key, (deps.clock.now() - waitStartedAt) / 1_000);
    const withPermitAhead: AttemptHooks = {
      sending: () => {
        hooks.sending();
        if (spec.more) ahead?.reserve();
      },
      dispatched: hooks.dispatched,
    };
    try {
      const value = await send(spec, attemptNumber, signal, withPermitAhead, log);
      metrics.apiCall({ ...key, outcome: 'ok' });
      return value;
    } catch (error) {
      if (isAppError(error) && error.code !== 'swas.aborted') {
        metrics.apiCall({ ...key, outcome: error.code.replace(/^swas\./, '') });
      }
      if (isAppError(error) && error.code === 'swas.throttled') {
        metrics.throttled(key);
        // Every process holds this account until the server's window frees (the retry waits in acquire).
        const hint = error.details.retryAfterMs;
        await deps.rateBudget.throttled(key, typeof hint === 'number' ? hint : undefined);
      }
      throw error;
    } finally {
      permit.done();
    }
  }

  /** Sign, send, read the whole body, classify, decode. */
  async function send<T>(
    spec: CallSpec<T>,
    attemptNumber: number,
    signal: AbortSignal | undefined,
    hooks: AttemptHooks,
    log: Logger,
  ): Promise<T> {
    const { context } = spec;
    const url = endpointFor(spec.hostRegion);
    const queryString = canonicalQueryString(spec.query);
    const signed = signAcs3(
      {
        method: 'POST',
        host: url.host,
        query: spec.query,
        action: context.action,
        version: API_VERSION,
        date: formatAcsDate(deps.clock.now()),
        nonce: deps.ids.nonce(),
      },
      {
        accessKeyId: credentials.accessKeyId,
        accessKeySecret: credentials.accessKeySecret.reveal(),
        securityToken: credentials.securityToken?.reveal(),
      },
    );
    const deadline = AbortSignal.timeout(requestTimeoutMs);
    const attemptSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const failed = (error: unknown) => {
      if (signal?.aborted) return abortedError(context, signal.reason);
      if (deadline.aborted) return attemptTimeoutError(context, requestTimeoutMs, error);
      return transportError(context, error, secrets);
    };
    const startedAt = deps.clock.now();
    let response: Dispatcher.ResponseData;
    hooks.sending();
    try {
      const pending = request(deps.dispatcher, {
        origin: url.origin,
        path: queryString === '' ? '/' : `/?${queryString}`,
        method: 'POST',
        headers: { ...signed.headers, accept: 'application/json', 'user-agent': USER_AGENT },
        signal: attemptSignal,
      });
      hooks.dispatched();
      response = await pending;
    } catch (error) {
      throw failed(error);
    }
    // Read as bytes and decoded just before parsing, not with undici's `text()`: its text came back
    // so that each page's string outlived the young generation, ~130 MB of old-generation garbage
    // per 100,000 images (measured with --trace-gc-nvp).
    let body: Uint8Array;
    try {
      // Always read the body to the end, whatever the status: an unread body holds its connection.
      body = await response.body.bytes();
    } catch (error) {
      await response.body.dump().catch(() => undefined);
      throw failed(error);
    }
    const httpStatus = response.statusCode;
    const headerRequestId = text(response.headers['x-acs-request-id']);
    const parsed = readApiJsonBytes(body);
    const object =
      parsed.ok && parsed.value !== null && typeof parsed.value === 'object'
        ? (parsed.value as Record<string, unknown>)
        : undefined;
    // Shown in logs and errors: an id, so anything longer or stranger than one is cut down.
    const foundId = text(object?.RequestId) ?? text(object?.requestId) ?? headerRequestId;
    const requestId = foundId === undefined ? undefined : displayText(foundId, 64);
    log.debug(
      { requestId, httpStatus, attempt: attemptNumber, durationMs: deps.clock.now() - startedAt },
      'swas response',
    );
    const errorOfBody = () =>
      apiError(
        context,
        {
          httpStatus,
          apiCode: text(object?.Code) ?? text(object?.code),
          requestId,
          message: text(object?.Message) ?? text(object?.message),
          retryAfterMs: serverRetryDelayMs(response.headers, deps.clock.now()),
        },
        secrets,
      );
    if (httpStatus < 200 || httpStatus > 299) throw errorOfBody();
    if (!parsed.ok) throw malformedResponseError(context, httpStatus, parsed.reason, requestId, secrets);
    try {
      return spec.decode(parsed.value, requestId);
    } catch (error) {
      // An error body under HTTP 200 (a gateway's Throttling or ServiceUnavailable, say) is that
      // error, retried or held as its code says, not an answer with fields missing.
      if (text(object?.Code) ?? text(object?.code)) throw errorOfBody();
      throw error;
    }
  }

  /** One logical call: attempts with retries; counts the HTTP attempts it sends. */
  async function call<T>(
    spec: CallSpec<T>,
    signal: AbortSignal | undefined,
    onFirstSent?: () => void,
    ahead?: PermitAhead,
  ): Promise<CallResult<T>> {
    const log = rootLogger.child({ regionId: spec.context.regionId, action: spec.context.action });
    let apiCalls = 0;
    if (signal?.aborted) throw abortedError(spec.context, signal.reason);
    try {
      const value = await runWithRetries(
        (n) =>
          attempt(
            spec,
            n,
            signal,
            {
              sending: () => {
                apiCalls++;
              },
              // On a reused keep-alive socket undici writes the request in the next check phase
              // (an immediate its dispatch queued), once it has seen the socket is still open:
              // told sooner, a listing's work on the page before would run first and hold the
              // write back (measured: ~0.7 ms a page, the server idle meanwhile).
              dispatched: () => {
                if (apiCalls === 1 && onFirstSent !== undefined) setImmediate(onFirstSent);
              },
            },
            log,
            ahead,
          ),
        policy,
        {
          clock: deps.clock,
          random: deps.random,
          signal,
          abortError: (reason) => abortedError(spec.context, reason),
          // The budget's shared hold already makes the next acquire wait for the server's window.
          waitsElsewhere: (error) => error.code === 'swas.throttled',
          onRetry: ({ error, attempt: failedAttempt, delayMs }) => {
            log.warn(
              {
                code: error.code,
                apiCode: error.details.apiCode,
                httpStatus: error.details.httpStatus,
                requestId: error.details.requestId,
                page: spec.context.page,
                attempt: failedAttempt,
                delayMs,
              },
              'swas call failed, retrying',
            );
          },
        },
      );
      return { value, apiCalls };
    } catch (error) {
      if (isAppError(error)) error.details.apiCalls = apiCalls;
      throw error;
    }
  }

  function checkRegion(context: CallContext, regionId: string): void {
    if (!REGION_ID.test(regionId)) throw badArgumentError(context, `invalid region id "${regionId}"`);
  }

  async function readPage(
    regionId: string,
    request: PageRequest,
    signal: AbortSignal | undefined,
    ahead?: PermitAhead,
  ): Promise<PageRead> {
    const context: CallContext = { action: 'ListCustomImages', regionId, page: request.pageNumber };
    checkRegion(context, regionId);
    if (!Number.isInteger(request.pageNumber) || request.pageNumber < 1) {
      throw badArgumentError(context, `PageNumber must be an integer ≥ 1, got ${request.pageNumber}`);
    }
    if (!Number.isInteger(request.pageSize) || request.pageSize < 1 || request.pageSize > LISTING_PAGE_SIZE) {
      throw badArgumentError(context, `PageSize must be an integer in 1..100, got ${request.pageSize}`);
    }
    if (request.imageIds !== undefined && request.imageIds.length > IMAGE_IDS_PER_CALL) {
      throw badArgumentError(context, `ImageIds takes at most 100 ids, got ${request.imageIds.length}`);
    }
    const query: Record<string, string> = {
      RegionId: regionId,
      PageNumber: String(request.pageNumber),
      PageSize: String(request.pageSize),
    };
    // A JSON array in one string parameter, as the API takes it.
    if (request.imageIds !== undefined) query.ImageIds = JSON.stringify(request.imageIds);
    const result = await call<CustomImagesPage>(
      {
        context,
        more: request.more,
        hostRegion: regionId,
        query,
        decode: (body, requestId) => {
          const envelope = v.safeParse(listCustomImagesResponseSchema, body);
          if (!envelope.success) {
            throw invalidResponseError(context, describeIssue(body, envelope.issues), requestId, secrets);
          }
          return new ListedPage(
            envelope.output.CustomImages,
            { regionId, requestedPage: request.pageNumber, requestId },
            {
              totalCount: envelope.output.TotalCount,
              pageNumber: envelope.output.PageNumber ?? request.pageNumber,
              pageSize: envelope.output.PageSize ?? request.pageSize,
            },
          );
        },
      },
      signal,
      request.onSent,
      ahead,
    );
    return { page: result.value, apiCalls: result.apiCalls };
  }

  /**
   * Runs one listing of `regionId` over a page reader whose calls ask for the next permit ahead;
   * a permit still reserved when the listing ends is cancelled.
   */
  async function withPageReader<T>(
    regionId: string,
    signal: AbortSignal | undefined,
    list: (readPage: PageReader) => Promise<T>,
  ): Promise<T> {
    const ahead = permitAhead(
      deps.rateBudget,
      { account: options.account, action: 'ListCustomImages' },
      signal,
    );
    try {
      return await list((request) => readPage(regionId, request, signal, ahead));
    } finally {
      ahead.release();
    }
  }

  return {
    async listRegions(signal) {
      const context: CallContext = { action: 'ListRegions' };
      const result = await call<Region[]>(
        {
          context,
          hostRegion: LIST_REGIONS_HOST_REGION,
          query: {},
          decode: (body, requestId) => {
            const parsed = v.safeParse(listRegionsResponseSchema, body);
            if (!parsed.success) {
              throw invalidResponseError(context, describeIssue(body, parsed.issues), requestId, secrets);
            }
            return parsed.output.Regions.map((region) => ({
              regionId: region.RegionId,
              localName: region.LocalName ?? null,
              endpoint: region.RegionEndpoint ?? null,
            }));
          },
        },
        signal,
      );
      return result.value;
    },

    async listCustomImagesPage(request, signal) {
      const { page } = await readPage(request.regionId, request, signal);
      return page;
    },

    async listAllImages(regionId, signal, known) {
      const log = rootLogger.child({ regionId, action: 'ListCustomImages' });
      const listing = await withPageReader(regionId, signal, (readPage) =>
        readFullListing(readPage, {
          maxRereads: options.maxListingRereads,
          known,
          onUnstable: ({ read, reason }) =>
            log.warn({ read, reason }, 'listing changed under paging, re-reading'),
        }),
      );
      const { complete, incompleteReason, totalCount, apiCalls, pages } = listing;
      log.debug({ complete, incompleteReason, totalCount, apiCalls, pages }, 'full listing read');
      return listing;
    },

    async listImagesByIds(regionId, imageIds, signal) {
      return withPageReader(regionId, signal, (readPage) => readWatchListing(readPage, imageIds));
    },
  };
}
