import { describe, expect, it } from 'vitest';
import { displayText } from './display-text.ts';

describe('displayText', () => {
  it('removes ANSI escape sequences and control characters', () => {
    expect(displayText('\u001b[31mred\u001b[0m \u001b]0;title\u0007ok\u0000\u0007\u009b')).toBe('red ok');
    expect(displayText('a\tb\nc\r\nd')).toBe('a b c  d');
    expect(displayText('evil\u202egnp.exe')).toBe('evilgnp.exe');
  });

  it('caps the length with an ellipsis and leaves ordinary text alone', () => {
    expect(displayText('x'.repeat(200_000), 64)).toBe(`${'x'.repeat(64)}…`);
    expect(displayText('镜像 image-1 (Ubuntu 22.04)')).toBe('镜像 image-1 (Ubuntu 22.04)');
  });

  it('never cuts an emoji in half', () => {
    const text = `${'a'.repeat(199)}😀 and more`;
    expect(displayText(text, 200)).toBe(`${'a'.repeat(199)}…`);
    expect(displayText(`${'a'.repeat(198)}😀 and more`, 200)).toBe(`${'a'.repeat(198)}😀…`);
  });
});
