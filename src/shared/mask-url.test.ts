import { describe, expect, it } from 'vitest';
import { maskUrl, scrubSecrets } from './mask-url.ts';

describe('maskUrl', () => {
  it('hides the tokens chat robot URLs carry', () => {
    expect(maskUrl('https://oapi.dingtalk.com/robot/send?access_token=abcdef123456')).toBe(
      'https://oapi.dingtalk.com/robot/send?access_token=***',
    );
    expect(maskUrl('https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX')).toBe(
      'https://hooks.slack.com/services/***/***/***',
    );
    expect(maskUrl('https://open.feishu.cn/open-apis/bot/v2/hook/0f3e2d1c-aaaa-bbbb-cccc-1234567890ab')).toBe(
      'https://open.feishu.cn/open-apis/bot/v2/hook/***',
    );
    expect(maskUrl('http://user:pw@127.0.0.1:8080/hook')).toBe('http://***@127.0.0.1:8080/hook');
  });

  it('hides a password given as a query parameter', () => {
    expect(maskUrl('postgres://db.internal:5432/app?user=app&password=hunter2')).toBe(
      'postgres://db.internal:5432/app?user=***&password=***',
    );
  });

  it('masks text that is not a URL by the same rules, keeping what tells the mistake', () => {
    // No scheme: the reason it was rejected stays visible, the token does not.
    expect(maskUrl('hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX')).toBe(
      'hooks.slack.com/services/***/***/***',
    );
    expect(maskUrl('oapi.dingtalk.com/robot/send?access_token=abcdef123456#x')).toBe(
      'oapi.dingtalk.com/robot/send?access_token=***',
    );
    expect(maskUrl('postgres://me:pa55word@db:port/x')).toBe('postgres://***@db:port/x');
    expect(maskUrl('me:pa55@word@db/x')).toBe('***@db/x');
    // Passwords with '?', '#' or '/' make the URL unparsable: none of it shows, wherever it is cut.
    expect(maskUrl('postgres://app:Tr0ub?4dor3xyz@db.internal:5432/inv')).toBe(
      'postgres://***@db.internal:5432/inv',
    );
    expect(maskUrl('postgres://app:Tr0ub4dor#3xyz@db.internal:5432/inv')).toBe(
      'postgres://***@db.internal:5432/inv',
    );
    expect(maskUrl('redis://:my#redispass@cache:6379')).toBe('redis://***@cache:6379');
    // What is left of one after a .env comment cut it at '#'.
    expect(maskUrl('postgres://app:Xy7')).toBe('postgres://***');
    expect(maskUrl('postgres://app:s3/cr3t:pw')).toBe('postgres://***');
    // With '@' in the password too, the text parses, wrongly: host and query would be password.
    expect(maskUrl('postgres://app:Tr0ub@dor?3xyz@db/inv')).toBe('postgres://***@db/inv');
    expect(maskUrl('postgres://app:Tr0ub@dor#3xyz@db/inv')).toBe('postgres://***@db/inv');
  });

  it('scrubs what it would mask of a URL, and given secrets, from any text', () => {
    const url = 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX?token=a b/c';
    expect(
      scrubSecrets(
        'no route for /services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX?token=a%20b%2Fc, key SECsecret',
        url,
        ['SECsecret'],
      ),
    ).toBe('no route for /services/***/***/***?token=***, key ***');
    expect(scrubSecrets('all fine', url)).toBe('all fine');
  });
});
