import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { type Environment, loadConfig } from '../../src/config/load-config.ts';
import { type AddEndpointInput, addEndpoint } from '../../src/events/webhook-endpoints.ts';
import { createLogger, type Logger, silentLogger } from '../../src/observability/logger.ts';
import { Secret } from '../../src/shared/secret.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSyncHarness, rows, type SyncHarness } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';
import { applySevenChanges, seedEvents } from '../support/webhook-fixtures.ts';
import {
  randomWebhookSecret,
  startWebhookReceiver,
  verifyStandardWebhook,
  type WebhookReceiver,
} from '../support/webhook-receiver.ts';

const SECRET = randomWebhookSecret();

const endpointInput = (url: string, overrides: Partial<AddEndpointInput> = {}): AddEndpointInput => ({
  url,
  format: 'standard',
  secret: new Secret(SECRET),
  eventTypes: null,
  accounts: null,
  regionIds: null,
  includeBaseline: false,
  ...overrides,
});

// Webhook delivery in-process: the outbox rows a sync writes, then the delivery engine over real HTTP to a
// receiver on loopback that verifies signatures with the standardwebhooks package.
describe('webhooks after the sync-engine scenario', () => {
  let simulator: Simulator;
  let harness: SyncHarness;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 7,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 250 },
        { regionId: 'cn-shanghai', images: 3 },
        { regionId: 'ap-southeast-1', images: 0 },
      ],
    });
    harness = await createSyncHarness(await createTestDatabase(), simulator, {
      SWAS_REGIONS: 'cn-hangzhou,cn-shanghai,ap-southeast-1',
      WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
      WEBHOOK_TIMEOUT: '2s',
    });
    receiver = await startWebhookReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
    await harness?.close();
    await simulator?.close();
  });

  it('delivers exactly the 8 change events, signed, and baseline events only where opted in', async () => {
    const store = harness.app.webhookStore();
    const all = await addEndpoint(store, harness.app.ids, endpointInput(`${receiver.url}/all`));
    const baseline = await addEndpoint(
      store,
      harness.app.ids,
      endpointInput(`${receiver.url}/shanghai`, { includeBaseline: true, regionIds: ['cn-shanghai'] }),
    );
    const failures = await addEndpoint(
      store,
      harness.app.ids,
      endpointInput(`${receiver.url}/failures`, { eventTypes: ['image.failed'], accounts: ['default'] }),
    );
    const elsewhere = await addEndpoint(
      store,
      harness.app.ids,
      endpointInput(`${receiver.url}/other-account`, { accounts: ['other'] }),
    );

    await harness.syncAll();
    const perEndpoint = async () =>
      Object.fromEntries(
        (
          await rows<{ endpoint_id: string; n: number }>(
            harness.sql,
            'select endpoint_id, count(*)::int as n from webhook_deliveries group by 1',
          )
        ).map((r) => [r.endpoint_id, r.n]),
      );
    expect(await perEndpoint()).toEqual({ [baseline.id]: 3 });

    applySevenChanges(simulator);
    await harness.syncAll(['cn-hangzhou']);
    expect(await perEndpoint()).toEqual({ [all.id]: 8, [baseline.id]: 3, [failures.id]: 1 });
    expect(elsewhere.id).not.toBe(all.id);

    const report = await harness.app.webhookDelivery().drain({ timeoutMs: 10_000 });
    expect(report).toEqual({ attempts: 12, delivered: 12, retrying: 0, dead: 0 });

    const events = await rows<{ id: string; type: string }>(
      harness.sql,
      'select id::text, type from image_events where baseline = false',
    );
    const toAll = receiver.requests.filter((r) => r.path === '/all');
    expect(toAll).toHaveLength(8);
    const verified = toAll.map((request) => verifyStandardWebhook(SECRET, request));
    expect(verified.map((m) => [m.id, m.type]).sort()).toEqual(events.map((e) => [e.id, e.type]).sort());
    for (const [index, request] of toAll.entries()) {
      expect(request.headers['webhook-id']).toBe(verified[index]?.id);
      expect(request.headers['user-agent']).toMatch(/^swas-inventory\/\d+\.\d+\.\d+/);
      expect(request.headers['content-type']).toBe('application/json');
      expect(Object.keys(JSON.parse(request.body))).toEqual(['id', 'type', 'timestamp', 'data']);
    }
    const baselineBodies = receiver.requests
      .filter((r) => r.path === '/shanghai')
      .map((r) => verifyStandardWebhook(SECRET, r));
    expect(baselineBodies.map((m) => [m.type, m.data.regionId])).toEqual([
      ['image.created', 'cn-shanghai'],
      ['image.created', 'cn-shanghai'],
      ['image.created', 'cn-shanghai'],
    ]);
    expect(
      receiver.requests
        .filter((r) => r.path === '/failures')
        .map((r) => verifyStandardWebhook(SECRET, r).type),
    ).toEqual(['image.failed']);
    expect(receiver.requests.some((r) => r.path === '/other-account')).toBe(false);
    expect(
      await rows(
        harness.sql,
        "select 1 from webhook_deliveries where status <> 'delivered' or delivered_at is null",
      ),
    ).toEqual([]);
  });
  it('alerts once per failure episode: nothing while the image stays failed, status_changed from 3 on recovery', async () => {
    const [failed] = await rows<{ image_id: string }>(
      harness.sql,
      "select image_id from image_events where type = 'image.failed' and not baseline",
    );
    const before = receiver.requests.length;
    await harness.syncAll(['cn-hangzhou']);
    await harness.syncAll(['cn-hangzhou']);
    expect(await harness.app.webhookDelivery().drain({ timeoutMs: 5_000 })).toMatchObject({ attempts: 0 });
    expect(receiver.requests).toHaveLength(before);

    simulator.admin.updateImage('cn-hangzhou', failed?.image_id ?? '', { Status: '1' });
    await harness.syncAll(['cn-hangzhou']);
    await harness.app.webhookDelivery().drain({ timeoutMs: 5_000 });
    const recovered = receiver.requests.slice(before).map((r) => verifyStandardWebhook(SECRET, r));
    expect(recovered.map((m) => [m.type, m.data.imageId, m.data.from, m.data.to])).toEqual([
      ['image.status_changed', failed?.image_id, '3', '1'],
    ]);
  });
});

interface Fixture {
  app: App;
  sql: pg.Client;
  close(): Promise<void>;
}

/** A database of its own and the production composition root over it, with the given settings. */
async function fixture(env: Environment, logger: Logger = silentLogger): Promise<Fixture> {
  const databaseUrl = await createTestDatabase();
  const config = loadConfig({ DATABASE_URL: databaseUrl, ...env }, { readFile: () => '' });
  const app = createApp(config, { logger });
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  return {
    app,
    sql,
    close: async () => {
      await sql.end();
      await app.close();
    },
  };
}

describe('delivery semantics', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const setup = async (env: Environment = {}, logger?: Logger) => {
    const f = await fixture({ WEBHOOK_RETRY_SCHEDULE: '100ms,100ms', WEBHOOK_TIMEOUT: '1s', ...env }, logger);
    const receiver = await startWebhookReceiver();
    cleanups.push(f.close, receiver.close);
    return { ...f, receiver, store: f.app.webhookStore(), delivery: f.app.webhookDelivery() };
  };
  const statuses = async (sql: pg.Client) =>
    rows<{
      id: number;
      status: string;
      attempts: number;
      last_status_code: number | null;
      last_error: string | null;
    }>(
      sql,
      'select id::int, status, attempts, last_status_code, last_error from webhook_deliveries order by id',
    );

  it('retries a 500 answered twice and delivers each event on its third attempt, once', async () => {
    const { app, sql, receiver, store, delivery } = await setup();
    receiver.answer = (_request, count) =>
      count < 2 ? { status: 500, body: 'down for a moment' } : { status: 204 };
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/flaky`));
    const ids = await seedEvents(sql, app.database().db, 3);
    const report = await delivery.drain({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ delivered: 3, retrying: 6, dead: 0 });
    expect((await statuses(sql)).map((d) => [d.status, d.attempts, d.last_status_code])).toEqual([
      ['delivered', 3, 204],
      ['delivered', 3, 204],
      ['delivered', 3, 204],
    ]);
    expect(receiver.acceptedIds().sort()).toEqual([...ids].sort());
    for (const id of ids) {
      const attempts = receiver.requests.filter((r) => r.headers['webhook-id'] === id);
      expect(attempts.map((r) => r.status)).toEqual([500, 500, 204]);
      // Each attempt is signed anew (its own timestamp) for the same webhook-id.
      for (const attempt of attempts) expect(verifyStandardWebhook(SECRET, attempt).id).toBe(id);
      // The retries waited for the schedule (100 ms ± 20%).
      expect((attempts[1]?.at ?? 0) - (attempts[0]?.at ?? 0)).toBeGreaterThanOrEqual(75);
    }
  });

  it('ends deliveries dead when the endpoint stays down past the schedule; redrive delivers them', async () => {
    const { app, sql, receiver, store, delivery } = await setup();
    receiver.answer = () => ({ status: 503, body: 'maintenance' });
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/down`));
    const ids = await seedEvents(sql, app.database().db, 2);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 0, dead: 2 });
    const dead = await statuses(sql);
    expect(dead.map((d) => [d.status, d.attempts, d.last_status_code, d.last_error])).toEqual([
      ['dead', 3, 503, 'HTTP 503: maintenance'],
      ['dead', 3, 503, 'HTTP 503: maintenance'],
    ]);
    const failed = await store.listDeliveries({ failed: true });
    expect(failed.map((d) => d.id).sort()).toEqual(dead.map((d) => d.id).sort());

    receiver.answer = () => ({ status: 200 });
    const redriven = await store.redrive([...dead.map((d) => d.id), 999_999]);
    expect(redriven).toEqual({ redriven: dead.map((d) => d.id), notDead: [999_999], endpointDisabled: [] });
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 2 });
    expect(receiver.acceptedIds().sort()).toEqual([...ids].sort());
    expect(await store.listDeliveries({ failed: true })).toEqual([]);
  });

  it('disables an endpoint answering 410 and ends its pending deliveries dead, redrivable once enabled; later events wait only for a paused one', async () => {
    const { app, sql, receiver, store, delivery } = await setup({ WEBHOOK_RETRY_SCHEDULE: '1h' });
    receiver.answer = (request) => (request.path === '/gone' ? { status: 410 } : { status: 200 });
    const gone = await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/gone`));
    const other = await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/fine`));
    await seedEvents(sql, app.database().db, 5);
    await delivery.drain({ timeoutMs: 10_000 });
    const endpoint = await store.getEndpoint(gone.id);
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('410') });
    const goneRows = await rows<{ status: string; last_error: string }>(
      sql,
      'select status, last_error from webhook_deliveries where endpoint_id = $1',
      [gone.id],
    );
    expect(goneRows).toHaveLength(5);
    expect(goneRows.every((r) => r.status === 'dead' && r.last_error === 'endpoint gone (410 Gone)')).toBe(
      true,
    );
    // Only the 410 itself reached the endpoint: the rest ended without an attempt.
    expect(receiver.requests.filter((r) => r.path === '/gone').length).toBeLessThanOrEqual(8);
    expect(receiver.requests.filter((r) => r.path === '/fine' && r.status === 200)).toHaveLength(5);
    expect(other.enabled).toBe(true);

    // An event recorded after its 410 gets no delivery there (it said it is gone); an endpoint an
    // operator paused gets one, which waits unsent.
    await store.setEnabled(other.id, false);
    await seedEvents(sql, app.database().db, 1);
    const waiting = async (endpointId: string) =>
      rows<{ status: string }>(
        sql,
        `select status from webhook_deliveries where endpoint_id = $1 and status = 'pending'`,
        [endpointId],
      );
    expect(await waiting(gone.id)).toEqual([]);
    expect(await waiting(other.id)).toEqual([{ status: 'pending' }]);
    const sent = receiver.requests.length;
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 0 });
    expect(receiver.requests).toHaveLength(sent);
    const ids = (await store.listDeliveries({ failed: true })).map((d) => d.id);
    expect((await store.redrive(ids)).endpointDisabled).toHaveLength(5);
    // Enabled again: the redriven ones go out, and the paused endpoint's waiting one.
    receiver.answer = () => ({ status: 200 });
    await store.setEnabled(gone.id, true);
    await store.setEnabled(other.id, true);
    expect((await store.redrive(ids)).redriven).toHaveLength(5);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 6 });
    expect(receiver.requests.filter((r) => r.path === '/gone' && r.status === 200)).toHaveLength(5);
  });

  it('honours a Retry-After only up to the schedule’s longest delay, however large', async () => {
    const { app, sql, receiver, store, delivery } = await setup();
    receiver.answer = (_request, count) =>
      count === 0
        ? { status: 429, body: 'slow down', headers: { 'retry-after': '99999999999999999999' } }
        : { status: 204 };
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/hostile`));
    await seedEvents(sql, app.database().db, 1);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 1, retrying: 1, dead: 0 });
    const [row] = await statuses(sql);
    expect(row).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 204 });
    const [first, second] = receiver.requests;
    // The schedule here is 100 ms, 100 ms: the wait was that, not the 10^20 seconds asked.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeLessThan(5_000);
  });

  it('keeps a robot’s token and secret out of the recorded error when the endpoint echoes them', async () => {
    const { app, sql, receiver, store, delivery } = await setup({ WEBHOOK_RETRY_SCHEDULE: '100ms' });
    receiver.answer = (request) => ({
      status: 400,
      body: `bad request to ${request.path} (secret SECecho-secret-1 rejected)`,
    });
    await addEndpoint(
      store,
      app.ids,
      endpointInput(`${receiver.url}/robot/send?access_token=ech0t0k3n`, {
        format: 'dingtalk',
        secret: new Secret('SECecho-secret-1'),
      }),
    );
    await seedEvents(sql, app.database().db, 1);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ dead: 1 });
    const [row] = await statuses(sql);
    expect(row?.last_error).toMatch(
      /^HTTP 400: bad request to \/robot\/send\?access_token=\*\*\*&timestamp=/,
    );
    expect(row?.last_error).toContain('(secret *** rejected)');
    expect(row?.last_error).not.toMatch(/ech0t0k3n|SECecho/);
  });

  it('delivers to a standard endpoint that accepts with a huge or endless body, once', async () => {
    const { app, sql, receiver, store, delivery } = await setup();
    receiver.answer = (request) =>
      request.path === '/huge'
        ? { status: 200, body: 'x'.repeat(2 * 1024 * 1024) }
        : request.path === '/stall'
          ? { status: 202, body: 'accepted, now dripping', stall: true }
          : { status: 410, body: 'gone, and still talking', stall: true };
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/huge`));
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/stall`));
    const gone = await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/gone`));
    await seedEvents(sql, app.database().db, 2);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 4, retrying: 0 });
    // The 410 decides at its status, its stalled body notwithstanding: no retry, the endpoint disabled.
    expect(await store.getEndpoint(gone.id)).toMatchObject({ enabled: false });
    expect(
      await rows(sql, `select 1 from webhook_deliveries where endpoint_id = $1 and status = 'dead'`, [
        gone.id,
      ]),
    ).toHaveLength(2);
    expect(receiver.requests.filter((r) => r.path === '/gone').length).toBeLessThanOrEqual(2);
    await rows(sql, 'delete from webhook_deliveries where endpoint_id = $1', [gone.id]);
    expect(
      (await statuses(sql)).map((d) => [d.status, d.attempts, d.last_status_code, d.last_error]),
    ).toEqual([
      ['delivered', 1, 200, null],
      ['delivered', 1, 200, null],
      ['delivered', 1, 202, null],
      ['delivered', 1, 202, null],
    ]);
    expect(receiver.requests.filter((r) => r.path !== '/gone')).toHaveLength(4);
  });

  it('keeps no part of a token that straddles the end of what is read of an answer', async () => {
    const { app, sql, receiver, store, delivery } = await setup({ WEBHOOK_RETRY_SCHEDULE: '100ms' });
    const token = 'abcdefghijklmnopqrstuvwxyz0123456789ABCD';
    // Whitespace up to 20 bytes before the 64 kB read ends, then the URL: the token is cut there.
    receiver.answer = (request) => ({
      status: 500,
      body: `${' '.repeat(64 * 1024 - 20 - request.path.indexOf(token))}${request.path}${'.'.repeat(4096)}`,
    });
    await addEndpoint(
      store,
      app.ids,
      endpointInput(`${receiver.url}/robot/send?access_token=${token}`, {
        format: 'dingtalk',
        secret: new Secret('SECcut-secret'),
      }),
    );
    await seedEvents(sql, app.database().db, 1);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ dead: 1 });
    const [row] = await statuses(sql);
    for (let length = 4; length <= token.length; length++)
      expect(row?.last_error).not.toContain(token.slice(0, length));
  });

  it('keeps every part of a robot’s token out of the error when its echo is cut, and terminal escapes too', async () => {
    const { app, sql, receiver, store, delivery } = await setup({ WEBHOOK_RETRY_SCHEDULE: '100ms' });
    const token = 'abcdefghijklmnopqrstuvwx';
    // The echoed token straddles the 200th character of the answer, where its error is cut.
    receiver.answer = (request) => ({
      status: 500,
      body: `\u001b]0;owned\u0007\u001b[2J\u009b31m\u202e${'p'.repeat(157)} ${request.path}`,
    });
    await addEndpoint(
      store,
      app.ids,
      endpointInput(`${receiver.url}/hooks/T0/B0/${token}`, { format: 'slack', secret: null }),
    );
    await seedEvents(sql, app.database().db, 1);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ dead: 1 });
    const [row] = await statuses(sql);
    // (The 8-bit CSI goes; its parameters stay as plain text.)
    expect(row?.last_error).toMatch(/^HTTP 500: 31mp{157} \/hooks\/T0\/B0\/\*\*\*$/);
    for (let length = 4; length <= token.length; length++)
      expect(row?.last_error).not.toContain(token.slice(0, length));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what must be gone.
    expect(row?.last_error).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(row?.last_error).not.toContain('owned');
  });

  it('sends the credentials of an endpoint URL as Basic authentication, and never records them', async () => {
    const { app, sql, receiver, store, delivery } = await setup({ WEBHOOK_RETRY_SCHEDULE: '100ms' });
    receiver.answer = (request) => ({
      status: 401,
      body: `who is alice:s3cr@t? (${String(request.headers.authorization)} refused)`,
    });
    const url = `${receiver.url.replace('://', '://alice:s3cr%40t@')}/basic`;
    await addEndpoint(store, app.ids, endpointInput(url));
    await seedEvents(sql, app.database().db, 1);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ dead: 1 });
    expect(receiver.requests.map((r) => [r.path, r.headers.authorization])).toEqual([
      ['/basic', `Basic ${Buffer.from('alice:s3cr@t').toString('base64')}`],
      ['/basic', `Basic ${Buffer.from('alice:s3cr@t').toString('base64')}`],
    ]);
    const [listed] = await store.listDeliveries({});
    expect(listed?.lastError).toBe('HTTP 401: who is ***:***? (Basic *** refused)');
    expect(JSON.stringify(listed)).not.toMatch(/s3cr|alice/);
    await expect(
      (async () => addEndpoint(store, app.ids, endpointInput(url.replace('s3cr%40t', 's3cr%zzt'))))(),
    ).rejects.toThrow('malformed %-escape in its user name or password');
  });

  it('keeps retrying a DingTalk robot that answers HTTP 200 with an errcode', async () => {
    const { app, sql, receiver, store, delivery } = await setup();
    receiver.answer = (_request, count) =>
      count === 0
        ? { status: 200, body: '{"errcode":310000,"errmsg":"keywords not in content"}' }
        : { status: 200, body: '{"errcode":0,"errmsg":"ok"}' };
    await addEndpoint(
      store,
      app.ids,
      endpointInput(`${receiver.url}/robot/send?access_token=t0k3n`, {
        format: 'dingtalk',
        secret: new Secret('SECabc'),
      }),
    );
    await seedEvents(sql, app.database().db, 1);
    expect(await delivery.drain({ timeoutMs: 10_000 })).toMatchObject({ delivered: 1, retrying: 1 });
    const [first, second] = receiver.requests;
    expect(first?.path).toMatch(/^\/robot\/send\?access_token=t0k3n&timestamp=\d{13}&sign=/);
    expect(JSON.parse(second?.body ?? '{}').msgtype).toBe('markdown');
    const [row] = await statuses(sql);
    expect(row).toMatchObject({ status: 'delivered', attempts: 2, last_status_code: 200, last_error: null });
  });

  it('does not let a hanging endpoint delay deliveries to another', async () => {
    const { app, sql, receiver, store, delivery } = await setup({ WEBHOOK_TIMEOUT: '8s' });
    receiver.answer = (request) => (request.path === '/hang' ? 'hang' : { status: 200 });
    const hang = await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/hang`));
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/fast`));
    await seedEvents(sql, app.database().db, 10);
    const draining = delivery.drain({ timeoutMs: 5_000 });
    // All 10 reach the fast endpoint while the hung attempts are still waiting for an answer.
    await waitFor(
      'the fast endpoint to get all 10',
      () =>
        receiver.requests.filter((r) => r.path === '/fast' && r.status === 200).length === 10
          ? true
          : undefined,
      { timeoutMs: 7_000 },
    );
    const inFlight = await rows<{ n: number }>(
      sql,
      `select count(*)::int as n from webhook_deliveries
       where endpoint_id = $1 and status = 'pending' and locked_until > now() and last_error is null`,
      [hang.id],
    );
    // At most the per-endpoint limit of attempts hang; the other deliveries to it wait their turn.
    const hanging = inFlight[0]?.n ?? 0;
    expect(hanging).toBeGreaterThanOrEqual(1);
    expect(hanging).toBeLessThanOrEqual(8);
    expect(receiver.requests.filter((r) => r.path === '/hang').length).toBeLessThanOrEqual(hanging);
    const report = await draining;
    expect(report.delivered).toBe(10);
    const hung = await rows<{ status: string; n: number }>(
      sql,
      'select status, count(*)::int as n from webhook_deliveries where endpoint_id = $1 group by 1',
      [hang.id],
    );
    expect(hung).toEqual([{ status: 'pending', n: 10 }]);
    expect(
      await rows(
        sql,
        "select 1 from webhook_deliveries where endpoint_id = $1 and last_error like 'timed out%'",
        [hang.id],
      ),
    ).toHaveLength(hanging);
  });

  it('gives back what it claimed but did not send when it stops at its deadline', async () => {
    const { app, sql, receiver, store, delivery } = await setup();
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/busy`));
    await seedEvents(sql, app.database().db, 300);
    const report = await delivery.drain({ timeoutMs: 50 });
    const byState = await rows<{ status: string; attempts: number; leased: boolean; n: number }>(
      sql,
      `select status, attempts, coalesce(locked_until > now(), false) as leased, count(*)::int as n
       from webhook_deliveries group by 1, 2, 3 order by 1`,
    );
    // Every attempt sent was recorded; every row claimed ahead but not sent is claimable again at
    // once, its attempt uncounted.
    expect(byState).toEqual([
      { status: 'delivered', attempts: 1, leased: false, n: report.delivered },
      { status: 'pending', attempts: 0, leased: false, n: 300 - report.delivered },
    ]);
    expect(report.delivered).toBeGreaterThan(0);
    expect(receiver.requests).toHaveLength(report.delivered);
  });

  it('gives each webhook-id to the receiver once when two processes deliver at the same time', async () => {
    const { app, sql, receiver, store } = await setup();
    const second = createApp(app.config, { logger: silentLogger });
    cleanups.push(() => second.close());
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/once`));
    const ids = await seedEvents(sql, app.database().db, 60);
    const [a, b] = await Promise.all([
      app.webhookDelivery().drain({ timeoutMs: 10_000 }),
      second.webhookDelivery().drain({ timeoutMs: 10_000 }),
    ]);
    expect(a.delivered + b.delivered).toBe(60);
    expect(receiver.requests).toHaveLength(60);
    expect(new Set(receiver.requests.map((r) => r.headers['webhook-id'])).size).toBe(60);
    expect(receiver.acceptedIds().sort()).toEqual([...ids].sort());
  });

  it('never writes a webhook secret to a log line or the delivery log, whatever fails', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ level: 'trace', destination, pretty: false });
    const { app, sql, receiver, store, delivery } = await setup({}, logger);
    const chatSecret = 'SEC0123456789abcdef-dingtalk';
    receiver.answer = (request) =>
      request.path.startsWith('/robot')
        ? { status: 200, body: '{"errcode":310000,"errmsg":"sign not match"}' }
        : { status: 500 };
    await addEndpoint(store, app.ids, endpointInput(`${receiver.url}/std`));
    await addEndpoint(
      store,
      app.ids,
      endpointInput(`${receiver.url}/robot/send?access_token=x`, {
        format: 'dingtalk',
        secret: new Secret(chatSecret),
      }),
    );
    await seedEvents(sql, app.database().db, 2);
    await delivery.drain({ timeoutMs: 10_000 });
    const endpoints = await store.listEndpoints();
    logger.info({ endpoints }, 'endpoints as loaded');
    const output = lines.join('');
    expect(output).toContain('webhook delivery dead');
    for (const secret of [SECRET, SECRET.slice('whsec_'.length), chatSecret]) {
      expect(output).not.toContain(secret);
      expect(JSON.stringify(await statuses(sql))).not.toContain(secret);
      expect(JSON.stringify(await store.listDeliveries())).not.toContain(secret);
      expect(JSON.stringify(endpoints)).not.toContain(secret);
    }
  });
});
