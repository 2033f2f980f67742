import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chatRequest, renderAlert } from './chat-formats.ts';
import { dingtalkSignature, feishuSignature } from './chat-signing.ts';
import type { WebhookMessage } from './webhook-message.ts';

const failed: WebhookMessage = {
  id: '0193a5c4-0000-7000-8000-000000000001',
  type: 'image.failed',
  timestamp: '2026-12-01T08:30:05.123Z',
  data: {
    account: 'prod',
    regionId: 'cn-hangzhou',
    imageId: 'm-bp1abc',
    version: 2,
    from: '4',
    image: { ImageId: 'm-bp1abc', Name: '生产环境-网站镜像', Status: '3' },
  },
};

// The derived vectors of the chat-robots reference (computed from the vendors' algorithms).
describe('chat robot signatures', () => {
  it('signs Feishu with key = timestamp + "\\n" + secret over an empty message', () => {
    expect(feishuSignature('demo', 1599360473)).toBe('l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=');
    expect(feishuSignature('demo', 100)).toBe('jquNHnVOwmDRfw+vqTIrY5dooJAgi5EcRtLsQE4wfXg=');
    // The DingTalk way round gives the known-wrong value.
    const wrong = createHmac('sha256', 'demo').update('1599360473\ndemo').digest('base64');
    expect(wrong).toBe('DkEDUyVoOOJ539qBvUgMyzkzIdRWlf4e/V3Rq+ONJnQ=');
    expect(feishuSignature('demo', 1599360473)).not.toBe(wrong);
  });

  it('signs DingTalk with key = secret over timestamp(ms) + "\\n" + secret', () => {
    expect(dingtalkSignature('this is secret', 1599360473000)).toBe(
      'hXZTWifRGHclNuZSKxoXc//sh51SWfVfRIhcdeKs63I=',
    );
    expect(dingtalkSignature('this is secret', 1599360473001)).toBe(
      'FFa7lqbDg9nUpjv2PsmsNQx0pUOYra+izTNB/0xfMGY=',
    );
  });
});

describe('chatRequest', () => {
  it('DingTalk: a markdown message, the signature URL-encoded once in the query', () => {
    const request = chatRequest(
      'dingtalk',
      'https://oapi.dingtalk.com/robot/send?access_token=XXX',
      'this is secret',
      failed,
      1599360473000,
    );
    expect(request.url).toBe(
      'https://oapi.dingtalk.com/robot/send?access_token=XXX&timestamp=1599360473000&sign=hXZTWifRGHclNuZSKxoXc%2F%2Fsh51SWfVfRIhcdeKs63I%3D',
    );
    const body = JSON.parse(request.body);
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.title).toBe('[swas-inventory] Image creation failed');
    expect(body.markdown.text).toContain('生产环境-网站镜像 (m-bp1abc)');
    expect(body.markdown.text).toContain('**Change**: creating (4) → create_failed (3)');
  });

  it('DingTalk without a secret leaves the URL as it is', () => {
    const url = 'https://oapi.dingtalk.com/robot/send?access_token=XXX';
    expect(chatRequest('dingtalk', url, null, failed, 1).url).toBe(url);
  });

  it('Feishu: a post message with timestamp (seconds, as a string) and sign beside msg_type', () => {
    const request = chatRequest(
      'feishu',
      'https://open.feishu.cn/open-apis/bot/v2/hook/abc',
      'demo',
      failed,
      1599360473999,
    );
    const body = JSON.parse(request.body);
    expect(body).toMatchObject({
      timestamp: '1599360473',
      sign: 'l1N0gAcBjdwBvGm1xMjOF0XSyaLRpR7tuO5dHfhAYc8=',
      msg_type: 'post',
    });
    expect(body.content.post.zh_cn.title).toBe('[swas-inventory] Image creation failed');
    expect(body.content.post.zh_cn.content).toContainEqual([{ tag: 'text', text: 'Region: cn-hangzhou' }]);
  });

  it('WeCom: markdown content under 4096 bytes, even for a huge change', () => {
    const request = chatRequest(
      'wecom',
      'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k',
      null,
      failed,
      0,
    );
    const body = JSON.parse(request.body);
    expect(body.msgtype).toBe('markdown');
    expect(body.markdown.content).toMatch(
      /^\*\*\[swas-inventory\] Image creation failed\*\*\n> Image: 生产环境-网站镜像/,
    );
    const huge: WebhookMessage = {
      ...failed,
      type: 'image.updated',
      data: {
        ...failed.data,
        changes: Object.fromEntries(
          Array.from({ length: 200 }, (_, i) => [`F${i}`, { from: '镜'.repeat(30), to: 'x' }]),
        ),
      },
    };
    const content = JSON.parse(chatRequest('wecom', 'https://q/x?key=k', null, huge, 0).body).markdown
      .content;
    expect(Buffer.byteLength(content)).toBeLessThanOrEqual(4096);
  });

  it('keeps an image name from pinging, linking, loading images or adding lines, on every platform', () => {
    const hostile: WebhookMessage = {
      ...failed,
      data: {
        ...failed.data,
        image: {
          ImageId: 'm-bp1abc',
          Status: '3',
          Name: 'x <!channel> <@all> <https://evil.example|open> [y](https://evil.example) ![](https://evil.example/p.png)\n### Account: fake',
        },
      },
    };
    const bodies = (['dingtalk', 'wecom', 'slack', 'feishu'] as const).map((format) => {
      const body = JSON.parse(chatRequest(format, 'https://robot.example/x?key=k', null, hostile, 0).body);
      return [format, body] as const;
    });
    for (const [format, body] of bodies) {
      const texts: string[] =
        format === 'dingtalk'
          ? [body.markdown.text]
          : format === 'wecom'
            ? [body.markdown.content]
            : format === 'slack'
              ? [body.text, body.blocks[0].text.text]
              : [
                  body.content.post.zh_cn.content
                    .map((line: Array<{ text: string }>) => line[0]?.text)
                    .join('\n'),
                ];
      // The name stays on its own line: nothing of it starts a line.
      for (const text of texts)
        expect(text.split('\n').filter((line) => line.includes('fake'))).toHaveLength(1);
      const all = texts.join('\n');
      expect(all).not.toMatch(/^#+ Account: fake/m);
      if (format === 'feishu') continue; // plain text: nothing to build
      // Slack's mentions and links are <…>; the markdown robots' links and images [..](..) too.
      expect(all).not.toMatch(format === 'slack' ? /<[!@]|<https?:/ : /<[!@]|<https?:|\]\(|!\[/);
    }
    const slack = bodies.find(([format]) => format === 'slack')?.[1];
    expect(slack.text).toContain('x &lt;!channel&gt; &lt;@all&gt; &lt;https://evil.example|open&gt;');
    const wecom = bodies.find(([format]) => format === 'wecom')?.[1];
    expect(wecom.markdown.content).toContain('x ＜!channel＞ ＜@all＞');
  });

  it('Slack: a text fallback and one mrkdwn section', () => {
    const body = JSON.parse(
      chatRequest('slack', 'https://hooks.slack.com/services/T/B/X', null, failed, 0).body,
    );
    expect(body.text.split('\n')[0]).toBe('[swas-inventory] Image creation failed');
    expect(body.blocks).toEqual([
      { type: 'section', text: { type: 'mrkdwn', text: expect.stringContaining('*Account:* prod') } },
    ]);
  });
});

describe('renderAlert', () => {
  it('says what happened, the image name and id, account, region, from → to and when', () => {
    const alert = renderAlert({
      ...failed,
      type: 'image.status_changed',
      data: { ...failed.data, from: '1', to: '2', fromLabel: 'available', toLabel: 'unavailable' },
    });
    expect(alert).toEqual({
      title: '[swas-inventory] Image status changed to unavailable',
      lines: [
        ['Image', '生产环境-网站镜像 (m-bp1abc)'],
        ['Account', 'prod'],
        ['Region', 'cn-hangzhou'],
        ['Change', 'available (1) → unavailable (2)'],
        ['When', '2026-12-01 08:30:05 UTC'],
        ['Event', `image.status_changed ${failed.id}`],
      ],
    });
  });

  it('describes every event type, the scope event and the test message', () => {
    const titles = [
      'image.created',
      'image.updated',
      'image.shared',
      'image.unshared',
      'image.deleted',
      'sync.deletions_held',
      'webhook.test',
    ].map(
      (type) =>
        renderAlert({ ...failed, type, data: { ...failed.data, target: 'ecs', count: 6, total: 10 } }).title,
    );
    expect(titles).toEqual([
      '[swas-inventory] Image created',
      '[swas-inventory] Image updated (attributes)',
      '[swas-inventory] Image shared (ecs)',
      '[swas-inventory] Image unshared (ecs)',
      '[swas-inventory] Image deleted',
      '[swas-inventory] Deletions held: 6 of 10 images missing from one listing',
      '[swas-inventory] Test message: this endpoint is reachable',
    ]);
  });
});
