import { describe, expect, it } from 'vitest';
import { DrizzleQueryError } from '../db/drizzle.ts';
import { AppError } from '../shared/app-error.ts';
import { describeFailure } from './exit-codes.ts';

describe('describeFailure', () => {
  const failedQuery = () =>
    new DrizzleQueryError(
      'insert into "webhook_endpoints" ("url", "secret") values ($1, $2)',
      ['https://oapi.dingtalk.com/robot/send?access_token=T0KEN', 'SECsigning'],
      new Error('new row for relation "webhook_endpoints" violates check constraint'),
    );

  it('prints a failed query by the driver’s message, never its parameters, at any level', () => {
    for (const debug of [false, true]) {
      const { exitCode, message } = describeFailure(failedQuery(), debug);
      expect(exitCode).toBe(1);
      expect(message).toBe(
        'error [db.query]: new row for relation "webhook_endpoints" violates check constraint',
      );
    }
    const wrapped = new AppError('db.query', 'PostgreSQL at db:5432/app: the insert failed', {
      cause: failedQuery(),
    });
    const debug = describeFailure(wrapped, true).message;
    expect(debug).toContain('caused by: failed query: insert into "webhook_endpoints"');
    expect(debug).not.toMatch(/T0KEN|SECsigning/);
  });
});
