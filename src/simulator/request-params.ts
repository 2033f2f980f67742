/**
 * Request parameters as the gateway reads them: real
 * percent-decoding of the query string, where `+` is a literal plus (the SDKs never send a raw
 * `+`, they encode space as `%20`), and of `application/x-www-form-urlencoded` bodies, where `+`
 * means space. A malformed escape is kept as it came, so the signature check rejects it.
 */
export function parseUrlEncoded(text: string, options: { plusIsSpace: boolean }): Record<string, string> {
  const params: Record<string, string> = Object.create(null);
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    params[decode(rawName, options.plusIsSpace)] = decode(rawValue, options.plusIsSpace);
  }
  return params;
}

function decode(text: string, plusIsSpace: boolean): string {
  const spaced = plusIsSpace ? text.replaceAll('+', ' ') : text;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

export const isFormContentType = (contentType: string | undefined): boolean =>
  contentType?.split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';

/** A header's value as one string (Node joins repeated headers already; `set-cookie` is an array). */
export function headerValue(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}
