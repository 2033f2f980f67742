import type { WebhookFormat } from '../db/schema/index.ts';
import { dingtalkSignature, feishuSignature } from './chat-signing.ts';
import type { WebhookMessage } from './webhook-message.ts';

export type ChatFormat = Exclude<WebhookFormat, 'standard'>;

/** A short alert: a title and `label: value` lines, rendered per platform. */
export interface Alert {
  title: string;
  lines: Array<[label: string, value: string]>;
}

/** Every alert names the product, so a DingTalk/Feishu keyword filter can be set to it. */
const PRODUCT = 'swas-inventory';

const STATUS_LABELS: Record<string, string> = {
  '0': 'copying',
  '1': 'available',
  '2': 'unavailable',
  '3': 'create_failed',
  '4': 'creating',
};

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;
const status = (code: unknown): string => {
  const text = str(code);
  return text === undefined ? '?' : `${STATUS_LABELS[text] ?? text} (${text})`;
};
const shown = (value: unknown): string => {
  if (value === null || value === undefined) return '∅';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
};

/** What happened, in words: the headline of the alert and its from → to line when there is one. */
function describe(message: WebhookMessage): { what: string; change?: string } {
  const data = message.data;
  switch (message.type) {
    case 'image.created':
      return { what: data.reappeared === true ? 'Image listed again' : 'Image created' };
    case 'image.updated': {
      const changes = (data.changes ?? {}) as Record<string, { from?: unknown; to?: unknown }>;
      const fields = Object.entries(changes);
      return {
        what: `Image updated (${fields.map(([field]) => field).join(', ') || 'attributes'})`,
        change: fields.map(([field, c]) => `${field}: ${shown(c.from)} → ${shown(c.to)}`).join('; '),
      };
    }
    case 'image.status_changed':
      return {
        what: `Image status changed to ${str(data.toLabel) ?? status(data.to)}`,
        change: `${status(data.from)} → ${status(data.to)}`,
      };
    case 'image.failed':
      return {
        what: 'Image creation failed',
        change: `${data.from === null || data.from === undefined ? 'first seen' : status(data.from)} → ${status('3')}`,
      };
    case 'image.shared':
      return { what: `Image shared (${str(data.target) ?? '?'})`, change: 'not shared → shared' };
    case 'image.unshared':
      return { what: `Image unshared (${str(data.target) ?? '?'})`, change: 'shared → not shared' };
    case 'image.deleted':
      return { what: 'Image deleted' };
    case 'sync.deletions_held':
      return {
        what: `Deletions held: ${str(data.count) ?? '?'} of ${str(data.total) ?? '?'} images missing from one listing`,
      };
    case 'webhook.test':
      return { what: 'Test message: this endpoint is reachable' };
    default:
      return { what: message.type };
  }
}

/** The alert of a message: what happened, image name and id, account, region, from → to, when. */
export function renderAlert(message: WebhookMessage): Alert {
  const data = message.data;
  const image = (data.image ?? {}) as Record<string, unknown>;
  const { what, change } = describe(message);
  const lines: Alert['lines'] = [];
  const imageId = str(data.imageId);
  if (imageId !== undefined) {
    const name = str(image.Name);
    lines.push(['Image', name === undefined ? imageId : `${name} (${imageId})`]);
  }
  if (str(data.account) !== undefined) lines.push(['Account', str(data.account) ?? '']);
  if (str(data.regionId) !== undefined) lines.push(['Region', str(data.regionId) ?? '']);
  if (change !== undefined && change !== '') lines.push(['Change', change]);
  lines.push(['When', message.timestamp.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC')]);
  lines.push(['Event', `${message.type} ${message.id}`]);
  return { title: `[${PRODUCT}] ${what}`, lines };
}

export interface ChatRequest {
  url: string;
  body: string;
}

/** WeCom rejects markdown over 4096 bytes (40058); cut well before, on a character boundary. */
function limitBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let cut = text.slice(0, max);
  while (Buffer.byteLength(cut) > max - 3) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/**
 * An alert's text made inert for a platform. Names and values come from the listing, so anyone
 * who can name an image could otherwise ping a channel (`<!channel>`, WeCom's `<@userid>`),
 * disguise a link (`<https://x|text>`, `[text](https://x)`), load an image (`![](https://x)`) or
 * start lines of their own. Every value is kept on one line; Slack gets its documented escapes
 * (`&amp;`, `&lt;`, `&gt;`); the markdown robots get full-width brackets, which read the same and
 * build nothing. Feishu's post text is plain text already.
 */
function inert(format: ChatFormat, alert: Alert): Alert {
  const inertText: (text: string) => string =
    format === 'slack'
      ? (text) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
      : format === 'feishu'
        ? (text) => text
        : (text) =>
            text.replaceAll('<', '＜').replaceAll('>', '＞').replaceAll('[', '［').replaceAll(']', '］');
  const clean = (text: string) => inertText(text.replace(/\s+/g, ' '));
  // The title is ours: what happened, never a value from the listing.
  return { title: alert.title, lines: alert.lines.map(([label, value]) => [label, clean(value)]) };
}

/**
 * The request for a chat robot: its message shape, and its signing where the platform has one
 * and a secret is configured (DingTalk in the URL, Feishu in the body; WeCom and Slack sign
 * nothing: their URL is the credential). `nowMs` is the time of this attempt.
 */
export function chatRequest(
  format: ChatFormat,
  url: string,
  secret: string | null,
  message: WebhookMessage,
  nowMs: number,
): ChatRequest {
  const alert = inert(format, renderAlert(message));
  switch (format) {
    case 'dingtalk': {
      const text = [
        `### ${alert.title}`,
        '',
        ...alert.lines.map(([label, value]) => `- **${label}**: ${value}`),
      ].join('\n');
      const body = JSON.stringify({ msgtype: 'markdown', markdown: { title: alert.title, text } });
      if (secret === null) return { url, body };
      const signed = new URL(url);
      signed.searchParams.set('timestamp', String(nowMs));
      signed.searchParams.set('sign', dingtalkSignature(secret, nowMs));
      return { url: signed.toString(), body };
    }
    case 'feishu': {
      const post = {
        zh_cn: {
          title: alert.title,
          content: alert.lines.map(([label, value]) => [{ tag: 'text', text: `${label}: ${value}` }]),
        },
      };
      const seconds = Math.floor(nowMs / 1000);
      const signing =
        secret === null ? {} : { timestamp: String(seconds), sign: feishuSignature(secret, seconds) };
      return { url, body: JSON.stringify({ ...signing, msg_type: 'post', content: { post } }) };
    }
    case 'wecom': {
      const content = [
        `**${alert.title}**`,
        ...alert.lines.map(([label, value]) => `> ${label}: ${value}`),
      ].join('\n');
      return {
        url,
        body: JSON.stringify({ msgtype: 'markdown', markdown: { content: limitBytes(content, 4000) } }),
      };
    }
    case 'slack': {
      const plain = [alert.title, ...alert.lines.map(([label, value]) => `${label}: ${value}`)].join('\n');
      const mrkdwn = [
        `*${alert.title}*`,
        ...alert.lines.map(([label, value]) => `*${label}:* ${value}`),
      ].join('\n');
      return {
        url,
        body: JSON.stringify({
          text: plain,
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn } }],
        }),
      };
    }
    default: {
      const unknown: never = format;
      throw new Error(`unknown chat format ${String(unknown)}`);
    }
  }
}
