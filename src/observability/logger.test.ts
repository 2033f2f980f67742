import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import { Secret } from '../shared/secret.ts';
import { createLogger } from './logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { destination, lines };
}

describe('createLogger', () => {
  it('writes JSON lines with the level label, time, message and child bindings', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ level: 'info', destination, pretty: false });
    logger
      .child({ component: 'sync', account: 'default', regionId: 'cn-hangzhou' })
      .info({ pages: 3 }, 'listed');
    logger.debug('hidden at info');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? '{}');
    expect(entry).toMatchObject({
      level: 'info',
      msg: 'listed',
      component: 'sync',
      account: 'default',
      regionId: 'cn-hangzhou',
      pages: 3,
    });
    expect(typeof entry.time).toBe('string');
  });

  it('never writes a secret, whatever shape it is logged in', () => {
    const { destination, lines } = capture();
    const logger = createLogger({ level: 'trace', destination, pretty: false });
    const secret = 'S3cr3t-Value-9f8e7d';
    const token = 'STS-Token-Value-1a2b3c';
    logger.info({ accessKeySecret: secret, securityToken: token }, 'flat');
    logger.info({ account: { accessKeySecret: secret, credentials: { securityToken: token } } }, 'nested');
    logger.info(
      { request: { headers: { authorization: `ACS3 ${secret}`, 'x-acs-security-token': token } } },
      'h',
    );
    logger.info({ config: { webhook: { secret: new Secret(secret) } } }, 'deep secret object');
    logger.info({ wrapped: new Secret(token), list: [new Secret(secret)] }, 'wrapped');
    logger.error(
      { err: new AppError('swas.auth', 'failed', { details: { credential: new Secret(secret) } }) },
      'e',
    );
    const output = lines.join('\n');
    expect(lines).toHaveLength(6);
    expect(output).not.toContain(secret);
    expect(output).not.toContain(token);
    expect(output).toContain('[redacted]');
  });

  it('renders human-readable lines when asked for pretty output', () => {
    const { destination, lines } = capture();
    createLogger({ level: 'info', destination, pretty: true }).info(
      { regionId: 'cn-hangzhou' },
      'pretty line',
    );
    expect(lines.join('\n')).toMatch(/INFO.*pretty line/);
    expect(() => JSON.parse(lines[0] ?? '')).toThrow();
  });
});
