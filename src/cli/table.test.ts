import { describe, expect, it } from 'vitest';
import { displayWidth, renderTable } from './table.ts';

describe('renderTable', () => {
  it('aligns columns, counting CJK characters as two columns', () => {
    const text = renderTable(
      ['REGION', 'NAME'],
      [
        ['cn-hangzhou', '华东1（杭州）'],
        ['ap-southeast-1', 'Singapore'],
      ],
    );
    expect(text.split('\n')).toEqual([
      'REGION          NAME',
      'cn-hangzhou     华东1（杭州）',
      'ap-southeast-1  Singapore',
    ]);
    expect(displayWidth('华东1')).toBe(5);
    expect(displayWidth('🚀🚀 web')).toBe(8);
  });
});
