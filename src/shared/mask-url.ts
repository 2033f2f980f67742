/**
 * A URL, or text meant as one, safe to print: scheme, host and path, with credentials, query
 * values and token-like path segments masked. Chat robot URLs carry their token in the query
 * (`access_token`, `key`) or the path (Slack, Feishu), and database URLs their password in the
 * userinfo or a `password=` parameter; a URL a setting rejects is masked the same way, since a
 * missing scheme does not make its token any less secret.
 */
export function maskUrl(text: string): string {
  // A URL without a host (`me:pa55@db/x` parses, scheme `me:`) is read as text.
  // Two '@': a password holding '@' (and maybe '?' or '#') that parses, wrongly, as host and query.
  const url = URL.canParse(text) && text.indexOf('@') === text.lastIndexOf('@') ? new URL(text) : null;
  if (url !== null && url.host !== '') {
    const auth = url.username || url.password ? '***@' : '';
    return `${url.protocol}//${auth}${url.host}${maskPath(url.pathname)}${maskQuery([...url.searchParams.keys()])}`;
  }
  // Not a URL: masked by the same rules on its text. A password with '#', '?' or '/' is what
  // most often makes a URL unparsable, so whatever precedes the last '@' is credentials (found
  // before the text is cut at '#' or '?'), and a first segment that is no host name is too.
  const clipped = text.slice(0, 200);
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(clipped)?.[0] ?? '';
  const afterScheme = clipped.slice(scheme.length);
  const at = afterScheme.lastIndexOf('@');
  const location = (at < 0 ? afterScheme : afterScheme.slice(at + 1)).split('#')[0] ?? '';
  const queryAt = location.indexOf('?');
  const rest = queryAt < 0 ? location : location.slice(0, queryAt);
  const keys =
    queryAt < 0
      ? []
      : [...new URLSearchParams(location.slice(queryAt + 1)).keys()].map((key) => key.slice(0, 40));
  const slash = rest.indexOf('/');
  const host = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  // No '@' and no host name first: the text is what is left of credentials (a .env line cut at '#').
  if (at < 0 && !/^[A-Za-z0-9.-]*(:\d+)?$/.test(host)) return `${scheme}***`;
  return `${scheme}${at < 0 ? '' : '***@'}${host}${maskPath(path)}${maskQuery(keys)}`;
}

/** Long segments, and shorter ones that mix letters and digits like an id or token, become `***`. */
const isTokenLike = (segment: string) =>
  segment.length >= 16 || (/^[A-Za-z0-9_-]{8,}$/.test(segment) && /\d/.test(segment));

function maskPath(path: string): string {
  return path
    .split('/')
    .map((segment) => (isTokenLike(segment) ? '***' : segment))
    .join('/');
}

/**
 * `text` (an answer, an error) with what {@link maskUrl} hides of `url` — its userinfo, query
 * values and token-like path segments, as written or percent-encoded — and each of `secrets`
 * replaced by `***`: an endpoint may echo the URL it was called at.
 */
export function scrubSecrets(text: string, url: string, secrets: readonly string[] = []): string {
  const parts = new Set(secrets.filter((secret) => secret.length >= 4));
  if (URL.canParse(url)) {
    const parsed = new URL(url);
    // The userinfo as written (percent-encoded), decoded, and as the Basic authorization that
    // carries it (an endpoint may echo the header it was sent).
    const userinfo = [parsed.username, parsed.password].flatMap((value) => [value, decodeUserinfo(value)]);
    const basic = basicCredentials(parsed);
    if (basic !== undefined) userinfo.push(basic.toString('base64'), basic.toString('base64url'));
    for (const value of [...userinfo, ...parsed.searchParams.values()]) {
      if (value.length >= 4) parts.add(value);
    }
    for (const segment of parsed.pathname.split('/')) if (isTokenLike(segment)) parts.add(segment);
  }
  let scrubbed = text;
  // Longest first, so a secret that contains another is replaced whole.
  for (const part of [...parts].sort((a, b) => b.length - a.length)) {
    for (const form of new Set([part, encodeURIComponent(part)])) scrubbed = scrubbed.replaceAll(form, '***');
  }
  return scrubbed;
}

/** The `user:password` of a URL as HTTP Basic authentication sends it (decoded), if it has one. */
export function basicCredentials(url: URL): Buffer | undefined {
  if (url.username === '' && url.password === '') return undefined;
  return Buffer.from(`${decodeUserinfo(url.username)}:${decodeUserinfo(url.password)}`);
}

/** A user name or password of a URL decoded, or as written when its %-escapes do not decode. */
export const decodeUserinfo = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

const maskQuery = (keys: readonly string[]) =>
  keys.length === 0 ? '' : `?${keys.map((key) => `${key}=***`).join('&')}`;
