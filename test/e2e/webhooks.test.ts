import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { startWebhookWorker } from '../../src/jobs/webhook-delivery-jobs.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { runCli } from '../support/cli.ts';
import { createTestDatabase, uniquePrefix } from '../support/test-database.ts';
import { applySevenChanges } from '../support/webhook-fixtures.ts';
import {
  type Answer,
  type ReceivedRequest,
  randomWebhookSecret,
  startWebhookReceiver,
  verifyStandardWebhook,
  type WebhookReceiver,
} from '../support/webhook-receiver.ts';

const SECRET = randomWebhookSecret();
/** 200 everywhere; the DingTalk robot path answers as DingTalk does on success. */
const healthy = (request: ReceivedRequest): Answer =>
  request.path.startsWith('/robot') ? { status: 200, body: '{"errcode":0,"errmsg":"ok"}' } : { status: 200 };
const BOOTSTRAP_SECRET = randomWebhookSecret();

// The webhook commands and `sync --once` delivery as a user runs them: the real executable, the
// simulator, a receiver on loopback verifying every signature with the standardwebhooks package.
// Each test runs several processes; on a loaded 2-CPU machine one command can take seconds.
describe('webhooks end to end', { timeout: 300_000 }, () => {
  let simulator: Simulator;
  let receiver: WebhookReceiver;
  let databaseUrl: string;
  let sql: pg.Client;
  let env: Record<string, string>;
  const outputs: string[] = [];
  const cli = async (args: string[], extra: Record<string, string> = {}) => {
    const result = await runCli(args, { ...env, ...extra });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const count = async (query: string, values: unknown[] = []) =>
    Number((await sql.query<{ n: string }>(query, values)).rows[0]?.n);

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
    receiver = await startWebhookReceiver(healthy);
    databaseUrl = await createTestDatabase();
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    env = {
      DATABASE_URL: databaseUrl,
      SWAS_ENDPOINT: simulator.url,
      SWAS_REGIONS: 'cn-hangzhou,cn-shanghai,ap-southeast-1',
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '100/1s',
      WEBHOOK_RETRY_SCHEDULE: '100ms,100ms',
      WEBHOOK_TIMEOUT: '2s',
      WEBHOOK_SECRET_FOR_TEST: SECRET,
    };
  });
  afterAll(async () => {
    await sql?.end();
    await receiver?.close();
    await simulator?.close();
  });

  let allId = '';

  it('adds endpoints, lists them without secrets, and refuses a bad one naming the problem only', async () => {
    const all = await cli([
      'webhooks',
      'add',
      '--url',
      `${receiver.url}/all`,
      '--secret-env',
      'WEBHOOK_SECRET_FOR_TEST',
    ]);
    expect(all.exitCode, all.stderr).toBe(0);
    allId = /endpoint ([0-9a-f-]{36}) added/.exec(all.stdout)?.[1] ?? '';
    expect(allId).not.toBe('');
    const shanghai = await cli([
      'webhooks',
      'add',
      '--url',
      `${receiver.url}/shanghai`,
      '--secret',
      SECRET,
      '--include-baseline',
      '--region',
      'cn-shanghai',
    ]);
    expect(shanghai.exitCode, shanghai.stderr).toBe(0);
    const robot = await cli([
      'webhooks',
      'add',
      '--url',
      `${receiver.url}/robot/send?access_token=t0ps3cr3tt0k3n`,
      '--format',
      'dingtalk',
      '--secret',
      'SECdingtalk-signing-secret',
      '--event',
      'image.failed',
    ]);
    expect(robot.exitCode, robot.stderr).toBe(0);

    const list = await cli(['webhooks', 'list']);
    expect(list.exitCode).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+FORMAT\s+URL\s+EVENTS/);
    expect(list.stdout).toMatch(new RegExp(`${allId}\\s+standard\\s+${receiver.url}/all\\s+\\*\\s`));
    expect(list.stdout).toMatch(
      /dingtalk\s+http:\/\/127\.0\.0\.1:\d+\/robot\/send\?access_token=\*\*\*\s+image\.failed/,
    );
    expect(list.stdout).not.toContain('t0ps3cr3tt0k3n');

    const bad = await cli(['webhooks', 'add', '--url', `${receiver.url}/x`, '--secret', 'whsec_tooShort']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/whsec_<base64/);
    expect(bad.stderr).not.toContain('tooShort');
    const ftp = await cli(['webhooks', 'add', '--url', 'ftp://example.com/x', '--format', 'slack']);
    expect(ftp.exitCode).toBe(2);
    const emptySecret = await cli([
      'webhooks',
      'add',
      '--url',
      `${receiver.url}/x`,
      '--format',
      'dingtalk',
      '--secret',
      '',
    ]);
    expect(emptySecret.exitCode).toBe(2);
    expect(emptySecret.stderr).toContain('--secret is empty');
    // A URL the parser accepts in another spelling is stored as it will be called, not refused by
    // the table's check with the insert's parameters (token, secret) printed.
    const upper = await cli([
      'webhooks',
      'add',
      '--url',
      ` ${receiver.url.replace('http://', 'HTTP://')}/upper?access_token=upp3rt0k3n`,
      '--format',
      'dingtalk',
      '--secret',
      'SECupper-signing-secret',
    ]);
    expect(upper.exitCode, upper.stderr).toBe(0);
    expect(`${upper.stdout}${upper.stderr}`).not.toMatch(/upp3rt0k3n|SECupper/);
    const upperId = /endpoint ([0-9a-f-]{36}) added/.exec(upper.stdout)?.[1] ?? '';
    const stored = await sql.query<{ url: string }>('select url from webhook_endpoints where id = $1', [
      upperId,
    ]);
    expect(stored.rows[0]?.url).toBe(`${receiver.url}/upper?access_token=upp3rt0k3n`);
    expect((await cli(['webhooks', 'remove', upperId])).exitCode).toBe(0);
    expect(await count('select count(*) as n from webhook_endpoints')).toBe(3);
  });

  it('sync --once delivers baseline events only where opted in, then exactly the 8 change events, all signed', async () => {
    const baseline = await cli(['sync', '--once']);
    expect(baseline.exitCode, baseline.stderr).toBe(0);
    expect(baseline.stdout).toMatch(/webhooks: 3 delivered, 0 to retry, 0 dead/);
    expect(receiver.requests.map((r) => r.path)).toEqual(['/shanghai', '/shanghai', '/shanghai']);

    applySevenChanges(simulator);
    const changes = await cli(['sync', '--once', '--region', 'cn-hangzhou']);
    expect(changes.exitCode, changes.stderr).toBe(0);
    expect(changes.stdout).toMatch(/webhooks: 9 delivered, 0 to retry, 0 dead/);
    const toAll = receiver.requests.filter((r) => r.path === '/all');
    expect(toAll).toHaveLength(8);
    const messages = toAll.map((request) => verifyStandardWebhook(SECRET, request));
    const events = (
      await sql.query<{ id: string; type: string }>(
        'select id::text, type from image_events where not baseline',
      )
    ).rows;
    expect(messages.map((m) => [m.id, m.type]).sort()).toEqual(events.map((e) => [e.id, e.type]).sort());
    const robot = receiver.requests.filter((r) => r.path.startsWith('/robot/send'));
    expect(robot).toHaveLength(1);
    expect(robot[0]?.path).toMatch(/access_token=t0ps3cr3tt0k3n&timestamp=\d{13}&sign=[^&]+$/);
    expect(JSON.parse(robot[0]?.body ?? '{}').markdown.title).toBe('[swas-inventory] Image creation failed');
  });

  it('webhooks test sends a signed webhook.test message and stores nothing', async () => {
    const before = await count('select count(*) as n from image_events');
    const test = await cli(['webhooks', 'test', allId]);
    expect(test.exitCode, test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^ok: HTTP 200 in \d+ms/);
    const last = receiver.requests.at(-1);
    expect(last && verifyStandardWebhook(SECRET, last).type).toBe('webhook.test');
    expect(await count('select count(*) as n from image_events')).toBe(before);

    receiver.answer = (request) =>
      request.path === '/all' ? { status: 500, body: 'nope' } : healthy(request);
    const failing = await cli(['webhooks', 'test', allId]);
    expect(failing.exitCode).toBe(1);
    expect(failing.stdout).toMatch(/^failed: HTTP 500 in \d+ms: HTTP 500: nope/);
    receiver.answer = healthy;
  });

  it('an endpoint down past the schedule: dead, listed by deliveries --failed, delivered by redrive', async () => {
    receiver.answer = (request) => (request.path === '/all' ? { status: 503 } : healthy(request));
    const image = simulator.admin.listImages('cn-hangzhou').find((i) => i.Status === '1');
    simulator.admin.updateImage('cn-hangzhou', image?.ImageId ?? '', { Name: 'renamed while down' });
    const sync = await cli(['sync', '--once', '--region', 'cn-hangzhou']);
    expect(sync.exitCode).toBe(0);
    expect(sync.stdout).toMatch(/webhooks: 0 delivered, 2 to retry, 1 dead/);

    const failed = await cli(['deliveries', '--failed']);
    expect(failed.exitCode).toBe(0);
    const deadLine = failed.stdout.split('\n').find((line) => /\bdead\b/.test(line)) ?? '';
    expect(deadLine).toMatch(/^(\d+)\s+dead\s+3\s+image\.updated\s+m-\S+\s+[0-9a-f-]{36}\s+503\s+.*HTTP 503/);
    const id = /^(\d+)/.exec(deadLine)?.[1] ?? '';
    const all = await cli(['deliveries']);
    expect(all.stdout.split('\n').filter((line) => /\bdelivered\b/.test(line)).length).toBeGreaterThanOrEqual(
      12,
    );

    receiver.answer = healthy;
    const redrive = await cli(['deliveries', 'redrive', id]);
    expect(redrive.exitCode, redrive.stderr).toBe(0);
    expect(redrive.stdout).toMatch(/1 delivery\(ies\) re-queued\nwebhooks: 1 delivered/);
    expect((await cli(['deliveries', '--failed'])).stdout.trim().split('\n')).toHaveLength(1);
    const again = await cli(['deliveries', 'redrive', id, 'abc']);
    expect(again.exitCode).toBe(2);
    const huge = await cli(['deliveries', 'redrive', '99999999999999999999']);
    expect(huge.exitCode).toBe(2);
    expect(huge.stderr).toContain('not a delivery id: "99999999999999999999"');
  });

  it('--no-deliver leaves the deliveries pending for the next run', async () => {
    const image = simulator.admin.listImages('cn-hangzhou').find((i) => i.Status === '1');
    simulator.admin.updateImage('cn-hangzhou', image?.ImageId ?? '', {
      Description: 'changed, not delivered yet',
    });
    const sync = await cli(['sync', '--once', '--region', 'cn-hangzhou', '--no-deliver']);
    expect(sync.exitCode).toBe(0);
    expect(sync.stdout).not.toContain('webhooks:');
    expect(await count("select count(*) as n from webhook_deliveries where status = 'pending'")).toBe(1);
    const next = await cli(['sync', '--once', '--region', 'cn-shanghai']);
    expect(next.stdout).toMatch(/webhooks: 1 delivered/);
  });

  it('bootstraps WEBHOOK_URL once, whatever the number of runs, and updates it when the variables change', async () => {
    const bootstrap = { WEBHOOK_URL: `${receiver.url}/bootstrap`, WEBHOOK_SECRET: BOOTSTRAP_SECRET };
    for (let run = 0; run < 2; run += 1)
      expect((await cli(['webhooks', 'list'], bootstrap)).exitCode).toBe(0);
    const listed = await cli(['webhooks', 'list', '--format', 'json'], {
      ...bootstrap,
      WEBHOOK_EVENTS: 'image.failed,image.deleted',
    });
    const endpoints = JSON.parse(listed.stdout) as Array<{
      id: string;
      note: string;
      events: string[];
      url: string;
    }>;
    const managed = endpoints.filter((e) => e.note === 'WEBHOOK_URL');
    expect(managed).toEqual([
      expect.objectContaining({
        url: `${receiver.url}/bootstrap`,
        events: ['image.failed', 'image.deleted'],
      }),
    ]);
    const noSecret = await cli(['webhooks', 'list'], { WEBHOOK_URL: `${receiver.url}/bootstrap` });
    expect(noSecret.exitCode).toBe(2);
    expect(noSecret.stderr).toContain('WEBHOOK_SECRET');

    // Disabled (as a 410 does): a run without the variables or with the same URL leaves it so;
    // a new URL enables it again.
    const id = managed[0]?.id ?? '';
    expect((await cli(['webhooks', 'disable', id])).exitCode).toBe(0);
    const bootstrapped = async (variables: Record<string, string>) =>
      (
        JSON.parse((await cli(['webhooks', 'list', '--format', 'json'], variables)).stdout) as Array<{
          id: string;
          url: string;
          enabled: boolean;
          note: string;
        }>
      ).find((e) => e.id === id);
    expect(await bootstrapped({})).toMatchObject({
      enabled: false,
      note: 'WEBHOOK_URL; disabled by an operator',
    });
    expect(await bootstrapped({ ...bootstrap, WEBHOOK_EVENTS: 'image.failed' })).toMatchObject({
      enabled: false,
    });
    expect(
      await bootstrapped({ ...bootstrap, WEBHOOK_URL: `${receiver.url}/bootstrap-moved` }),
    ).toMatchObject({
      url: `${receiver.url}/bootstrap-moved`,
      enabled: true,
      note: 'WEBHOOK_URL',
    });
  });

  it('a worker and a sync --once delivering at the same time give each webhook-id to the receiver once', async () => {
    const config = loadConfig({ ...env }, { readFile: () => '' });
    const app = createApp(config, { logger: silentLogger });
    const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    const worker = await startWebhookWorker(
      { delivery: app.webhookDelivery(), store: app.webhookStore(), clock: app.clock, logger: silentLogger },
      { connection, prefix: uniquePrefix('e2e-webhooks'), sweepEveryMs: 50 },
    );
    try {
      const before = receiver.requests.length;
      simulator.admin.setRegion('cn-qingdao', 40);
      const sync = await cli(['sync', '--once', '--region', 'cn-qingdao'], {
        WEBHOOK_URL: `${receiver.url}/bootstrap`,
        WEBHOOK_SECRET: BOOTSTRAP_SECRET,
        WEBHOOK_EVENTS: '',
      });
      expect(sync.exitCode, sync.stderr).toBe(0);
      // A second listing with every image changed: 40 image.updated events for the endpoints.
      for (const image of simulator.admin.listImages('cn-qingdao')) {
        simulator.admin.updateImage('cn-qingdao', image.ImageId, { Description: 'raced' });
      }
      const raced = await cli(['sync', '--once', '--region', 'cn-qingdao']);
      expect(raced.exitCode, raced.stderr).toBe(0);
      const { waitFor } = await import('../support/wait-for.ts');
      await waitFor('every delivery settled', async () =>
        (await count("select count(*) as n from webhook_deliveries where status = 'pending'")) === 0
          ? true
          : undefined,
      );
      const fresh = receiver.requests.slice(before);
      expect(fresh.every((r) => r.status === 200)).toBe(true);
      const ids = fresh.map((r) => `${r.path}|${r.headers['webhook-id']}`);
      // 40 image.updated events to the two endpoints that take them, each webhook-id once.
      expect(ids).toHaveLength(80);
      expect(new Set(ids).size).toBe(80);
    } finally {
      await worker.queue.obliterate({ force: true });
      await worker.close();
      await connection.quit();
      await app.close();
    }
  });

  it('never prints a secret, at any log level', async () => {
    const trace = await cli(['deliveries'], { LOG_LEVEL: 'trace' });
    expect(trace.exitCode).toBe(0);
    const text = outputs.join('\n');
    for (const secret of [
      SECRET,
      SECRET.slice(6),
      BOOTSTRAP_SECRET,
      'SECdingtalk-signing-secret',
      't0ps3cr3tt0k3n',
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
