import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../shared/clock.ts';
import { formatAcsDate } from '../swas/signer.ts';
import { API_VERSION } from '../swas/wire.ts';
import {
  API_ERRORS,
  type ApiFailure,
  apiFailure,
  errorBody,
  isKnownApiErrorCode,
  throttlingHeaders,
} from './api-errors.ts';
import type { CallLog, CallRecord } from './call-log.ts';
import type { ActiveFault, FaultContext, FaultRegistry } from './faults.ts';
import { sendJson, sendJsonText } from './http-io.ts';
import type { ImageStore } from './image-store.ts';
import { filtersAnything, matchesQuery, pageOf, pagingOf, parseListCustomImagesQuery } from './listing.ts';
import type { Quota } from './quota.ts';
import { type ApiRequest, detectScheme, type RequestAuthenticator } from './request-auth.ts';
import { headerValue, isFormContentType, parseUrlEncoded } from './request-params.ts';

export const SUPPORTED_ACTIONS = ['ListRegions', 'ListCustomImages'] as const;
export type SupportedAction = (typeof SUPPORTED_ACTIONS)[number];

const isSupportedAction = (action: string): action is SupportedAction =>
  (SUPPORTED_ACTIONS as readonly string[]).includes(action);

export interface ApiHandlerDeps {
  store: ImageStore;
  authenticator: RequestAuthenticator;
  /** Null: no flow control. */
  quota: Quota | null;
  faults: FaultRegistry;
  calls: CallLog;
  clock: Clock;
  /** Aborted when the simulator closes; ends injected delays. */
  closed: AbortSignal;
}

export type ApiHandler = (request: IncomingMessage, response: ServerResponse, body: Buffer) => Promise<void>;

type Outcome = { ok: true; body: Record<string, unknown> } | { ok: false; failure: ApiFailure };

type TerminalFault = Extract<ActiveFault, { kind: 'throttle' | 'error' | 'hang' | 'reset' }>;

/** Faults that answer instead of the API. */
const isTerminal = (fault: ActiveFault): fault is TerminalFault =>
  fault.kind === 'throttle' || fault.kind === 'error' || fault.kind === 'hang' || fault.kind === 'reset';

const DEFAULT_BODY_EXTRAS: Readonly<Record<string, unknown>> = { NextToken: '', Success: true };
const DEFAULT_ITEM_EXTRAS: Readonly<Record<string, unknown>> = {
  Architecture: 'x86_64',
  ImageFamily: '',
  ImageOwnerAlias: 'self',
};

/**
 * Answers the RPC API on `/` the way the gateway does: action and version, signature (both
 * schemes), flow control, then the action; injected faults as {@link FaultRegistry} describes.
 * Every call is logged with the answer it got.
 */
export function createApiHandler(deps: ApiHandlerDeps): ApiHandler {
  const listRegions = (params: Readonly<Record<string, string>>): Outcome => {
    const language = params.AcceptLanguage === 'en-US' ? 'en-US' : 'zh-CN';
    return {
      ok: true,
      body: {
        Regions: deps.store.regions(language).map((region) => ({
          LocalName: region.localName,
          RegionEndpoint: `swas.${region.regionId}.aliyuncs.com`,
          RegionId: region.regionId,
        })),
      },
    };
  };

  const listCustomImages = (
    params: Readonly<Record<string, string>>,
    context: FaultContext,
    applied: string[],
  ): Outcome => {
    const parsed = parseListCustomImagesQuery(params);
    if (!parsed.ok) return parsed;
    const { regionId, pageNumber, pageSize } = parsed.query;
    // Unfiltered, a page costs its own items, not a pass over the region (100,000 images in the
    // benchmarks, whose listing floor would otherwise measure this simulator).
    const stored = deps.store.list(regionId);
    const listing = filtersAnything(parsed.query)
      ? stored.filter((image) => matchesQuery(image, parsed.query))
      : stored;
    const page = pageOf(listing, pageNumber, pageSize).map((image) => structuredClone(image));
    for (const fault of deps.faults.matching(context)) {
      if (fault.kind === 'drift' && deps.faults.take(fault.id)) {
        applied.push(fault.kind);
        const removeCount = fault.remove ?? (fault.add === undefined ? 1 : 0);
        for (const image of listing.slice(0, Math.min(removeCount, pageNumber * pageSize))) {
          deps.store.remove(regionId, image.ImageId);
        }
        for (let i = 0; i < (fault.add ?? 0); i++) {
          const last = deps.store.list(regionId).at(-1);
          const before = last === undefined ? deps.clock.now() : Date.parse(last.CreationTime) - 1000;
          deps.store.add(regionId, fault.addAt === 'end' ? { CreationTime: formatAcsDate(before) } : {});
        }
      }
    }
    return {
      ok: true,
      body: {
        TotalCount: String(listing.length),
        PageSize: String(pageSize),
        PageNumber: String(pageNumber),
        CustomImages: page,
      },
    };
  };

  /** Applies the body-shaping faults; returns the text to send. */
  const reshape = (
    action: SupportedAction,
    body: Record<string, unknown>,
    context: FaultContext,
    applied: string[],
  ): string => {
    const items = (action === 'ListCustomImages' ? body.CustomImages : body.Regions) as Record<
      string,
      unknown
    >[];
    const matched = deps.faults.matching(context);
    const use = (fault: ActiveFault) => {
      const taken = deps.faults.take(fault.id);
      if (taken) applied.push(fault.kind);
      return taken;
    };
    for (const fault of matched) {
      if (fault.kind !== 'missing-field' || !use(fault)) continue;
      const target = fault.target === 'body' ? body : items[fault.index ?? 0];
      if (target !== undefined) delete target[fault.field];
    }
    for (const fault of matched) {
      if (fault.kind !== 'patch-item' || !use(fault)) continue;
      const index = fault.index ?? 0;
      if (index >= items.length) continue;
      if (fault.item !== undefined) items[index] = fault.item as Record<string, unknown>;
      else Object.assign(items[index] as Record<string, unknown>, fault.fields ?? {});
    }
    for (const fault of matched) {
      if (fault.kind !== 'extra-fields' || !use(fault)) continue;
      Object.assign(body, fault.bodyFields ?? DEFAULT_BODY_EXTRAS);
      for (const item of items) Object.assign(item, fault.itemFields ?? DEFAULT_ITEM_EXTRAS);
    }
    for (const fault of matched) {
      if (fault.kind !== 'numeric-counts' || !use(fault)) continue;
      for (const field of ['TotalCount', 'PageSize', 'PageNumber']) {
        if (typeof body[field] === 'string') body[field] = Number(body[field]);
      }
    }
    let text = JSON.stringify(body);
    for (const fault of matched) {
      if (fault.kind !== 'malformed-json' || !use(fault)) continue;
      // Any proper prefix of a JSON object is invalid JSON: the closing brace is missing.
      text = text.slice(0, Math.max(1, Math.floor(text.length / 2)));
    }
    return text;
  };

  return async (request, response, rawBody) => {
    const requestId = randomUUID().toUpperCase();
    const hostId = headerValue(request.headers, 'host') ?? '';
    const method = request.method ?? 'GET';
    const url = request.url ?? '/';
    const queryStart = url.indexOf('?');
    const path = queryStart < 0 ? url : url.slice(0, queryStart);
    const query = parseUrlEncoded(queryStart < 0 ? '' : url.slice(queryStart + 1), { plusIsSpace: false });
    const form =
      method === 'POST' && isFormContentType(headerValue(request.headers, 'content-type'))
        ? parseUrlEncoded(rawBody.toString('utf8'), { plusIsSpace: true })
        : {};
    const params: Record<string, string> = { ...query, ...form };
    const apiRequest: ApiRequest = { method, headers: request.headers, query, params, body: rawBody };
    const scheme = detectScheme(apiRequest);

    const call: Omit<CallRecord, 'seq' | 'at' | 'status' | 'code'> = {
      requestId,
      method,
      scheme,
      action: null,
      accessKeyId: null,
      regionId: params.RegionId ?? null,
      ...pagingOf(params),
      faults: [],
    };
    const log = (status: number | null, code: string | null) =>
      deps.calls.record({ ...call, at: deps.clock.now(), status, code });
    const fail = (failure: ApiFailure) => {
      log(failure.status, failure.code);
      sendJson(response, failure.status, errorBody(failure, requestId, hostId), {
        'x-acs-request-id': requestId,
        ...failure.headers,
      });
    };

    if ((method !== 'GET' && method !== 'POST') || path !== '/')
      return fail(apiFailure('InvalidAction.NotFound'));
    const action = scheme === 'v3' ? headerValue(request.headers, 'x-acs-action') : params.Action;
    const version = scheme === 'v3' ? headerValue(request.headers, 'x-acs-version') : params.Version;
    call.action = action || null;
    if (!action)
      return fail(apiFailure('MissingParameter', { name: scheme === 'v3' ? 'x-acs-action' : 'Action' }));
    if (!version)
      return fail(apiFailure('MissingParameter', { name: scheme === 'v3' ? 'x-acs-version' : 'Version' }));
    if (version !== API_VERSION) return fail(apiFailure('InvalidVersion'));
    if (!isSupportedAction(action)) return fail(apiFailure('InvalidAction.NotFound'));

    const auth = deps.authenticator.authenticate(apiRequest, scheme);
    call.accessKeyId = auth.accessKeyId;
    if (!auth.ok) return fail(auth.failure);
    if (deps.quota !== null) {
      const admission = deps.quota.admit(`${auth.accessKeyId}\n${action}`);
      if (!admission.admitted) {
        return fail(
          apiFailure('Throttling.User', {
            headers: throttlingHeaders(admission.retryAfterMs, deps.clock.now()),
          }),
        );
      }
    }

    const context: FaultContext = {
      action,
      regionId: params.RegionId ?? null,
      pageNumber: action === 'ListCustomImages' ? (call.pageNumber ?? 1) : null,
      accessKeyId: auth.accessKeyId,
    };
    let latencyMs = 0;
    for (const fault of deps.faults.matching(context)) {
      if (fault.kind === 'latency' && deps.faults.take(fault.id)) {
        latencyMs += fault.ms;
        call.faults.push(fault.kind);
      }
    }
    if (latencyMs > 0) {
      try {
        await delay(latencyMs, undefined, { signal: deps.closed });
      } catch {
        return; // closing: the socket is being destroyed
      }
    }

    for (const fault of deps.faults.matching(context)) {
      if (!isTerminal(fault) || !deps.faults.take(fault.id)) continue;
      call.faults.push(fault.kind);
      switch (fault.kind) {
        case 'throttle':
          return fail(
            apiFailure(fault.code ?? 'Throttling.User', {
              ...(fault.timeLeftMs === undefined
                ? {}
                : { headers: throttlingHeaders(fault.timeLeftMs, deps.clock.now()) }),
            }),
          );
        case 'error':
          return fail({
            status: fault.status,
            code: fault.code,
            message:
              fault.message ??
              (isKnownApiErrorCode(fault.code) ? API_ERRORS[fault.code].message : `Simulated ${fault.code}.`),
          });
        case 'hang':
          // Never answered: close() destroys the socket, or the client gives up first.
          return log(null, null);
        case 'reset':
          log(null, null);
          request.socket.resetAndDestroy();
          return;
        default: {
          const unreachable: never = fault;
          throw new Error(`unhandled fault ${String(unreachable)}`);
        }
      }
    }

    const outcome =
      action === 'ListRegions' ? listRegions(params) : listCustomImages(params, context, call.faults);
    if (!outcome.ok) return fail(outcome.failure);
    const text = reshape(action, { RequestId: requestId, ...outcome.body }, context, call.faults);
    for (const fault of deps.faults.matching(context)) {
      if (fault.kind !== 'hold' || !deps.faults.take(fault.id)) continue;
      call.faults.push(fault.kind);
      const closed = new Promise<void>((resolve) =>
        deps.closed.addEventListener('abort', () => resolve(), { once: true }),
      );
      await Promise.race([deps.faults.held(fault.id), closed]);
      if (deps.closed.aborted) return;
    }
    log(200, null);
    sendJsonText(response, 200, text, { 'x-acs-request-id': requestId });
  };
}
