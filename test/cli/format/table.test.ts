/** formatTable: istioctl's column layout. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatTable } from '../../../src/cli/format/table.ts';

test('columns are padded to the widest cell plus five spaces; the last column is not padded', () => {
  const out = formatTable(
    ['NAME', 'PORT', 'TYPE'],
    [
      ['a', '9080', 'EDS'],
      ['longer-name', '1', 'STATIC'],
    ],
  );
  assert.equal(
    out,
    'NAME            PORT     TYPE\n' +
      'a               9080     EDS\n' +
      'longer-name     1        STATIC\n',
  );
});

test('an empty last cell leaves no trailing blanks; a table without rows is its header', () => {
  assert.equal(formatTable(['A', 'B'], [['x', '']]), 'A     B\nx\n');
  assert.equal(formatTable(['ONLY', 'HEADER'], []), 'ONLY     HEADER\n');
});

test('widths count characters, not UTF-16 units; the gap can be changed', () => {
  assert.equal(formatTable(['N', 'V'], [['\u{1F600}', '1']], { gap: 1 }), 'N V\n\u{1F600} 1\n');
});
