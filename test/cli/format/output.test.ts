/** -o parsing and JSON/YAML output. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parse } from 'yaml';
import { formatStructured, outputFormatArg } from '../../../src/cli/format/output.ts';

test('-o accepts short, json and yaml in any case and names them when refused', () => {
  assert.equal(outputFormatArg('JSON'), 'json');
  assert.equal(outputFormatArg('short'), 'short');
  assert.throws(
    () => outputFormatArg('table'),
    (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, /short, json, yaml/);
      return true;
    },
  );
});

test('JSON is indented with a final newline; YAML round-trips long strings unfolded', () => {
  const value = {
    name: 'outbound|9080||reviews.default.svc.cluster.local',
    list: [1, 2],
    long: 'x'.repeat(200),
  };
  assert.equal(formatStructured(value, 'json'), `${JSON.stringify(value, null, 2)}\n`);
  const yaml = formatStructured(value, 'yaml');
  assert.deepEqual(parse(yaml), value);
  assert.ok(yaml.includes(`long: ${'x'.repeat(200)}\n`), 'no line folding');
});
