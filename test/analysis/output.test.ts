import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { type AnalysisMessage, messageLine, sortAndDedupe } from '../../src/analysis/diagnostic.ts';
import { Messages } from '../../src/analysis/messages.ts';
import { formatMessages, toRecord } from '../../src/analysis/output.ts';

const notFound: AnalysisMessage = {
  type: Messages.ReferencedResourceNotFound,
  text: 'Referenced host not found: "reviewz"',
  origin: { kind: 'VirtualService', namespace: 'default', name: 'reviews', file: 'reviews.yaml', line: 12 },
};
const syntax: AnalysisMessage = {
  type: Messages.SchemaValidationError,
  text: 'Schema validation error: YAML: bad',
  origin: { file: 'bad.yaml', line: 3 },
};
const info: AnalysisMessage = {
  type: Messages.VirtualServiceIneffectiveMatch,
  text: 'VirtualService rule #1 match #0 is not used (rule #0 has the same match).',
  origin: { kind: 'VirtualService', namespace: 'default', name: 'a', file: 'a.yaml', line: 9 },
};

test('a log line is "Level [CODE] (Kind namespace/name file:line) text"', () => {
  assert.equal(
    messageLine(notFound),
    'Error [IST0101] (VirtualService default/reviews reviews.yaml:12) Referenced host not found: "reviewz"',
  );
  assert.equal(messageLine(syntax), 'Error [IST0106] (bad.yaml:3) Schema validation error: YAML: bad');
  assert.equal(
    messageLine({ type: Messages.InternalError, text: 'Internal error: x' }),
    'Error [IST0001] Internal error: x',
  );
});

test('messages sort by level, code, object, place and text, and identical lines collapse', () => {
  const warning: AnalysisMessage = { ...info, type: Messages.VirtualServiceHostNotFoundInGateway, text: 'w' };
  const sorted = sortAndDedupe([info, warning, notFound, syntax, notFound]);
  assert.deepEqual(
    sorted.map((m) => m.type.code),
    ['IST0101', 'IST0106', 'IST0132', 'IST0131'],
  );
});

test('log output colors only the level, and only when asked', () => {
  assert.equal(formatMessages([notFound], 'log'), `${messageLine(notFound)}\n`);
  const colored = formatMessages([notFound, info], 'log', { color: true });
  assert.equal(
    colored,
    '\u001b[1;31mError\u001b[0m [IST0101] (VirtualService default/reviews reviews.yaml:12) Referenced host not found: "reviewz"\n' +
      'Info [IST0131] (VirtualService default/a a.yaml:9) VirtualService rule #1 match #0 is not used (rule #0 has the same match).\n',
  );
  assert.equal(formatMessages([], 'log'), '');
});

test('json output has istioctl fields and order, tab-indented', () => {
  const text = formatMessages([notFound, syntax], 'json');
  assert.equal(
    text,
    `[
\t{
\t\t"code": "IST0101",
\t\t"documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0101/?ref=mizzenctl-analyze",
\t\t"level": "Error",
\t\t"message": "Referenced host not found: \\"reviewz\\"",
\t\t"origin": "VirtualService default/reviews",
\t\t"reference": "reviews.yaml:12"
\t},
\t{
\t\t"code": "IST0106",
\t\t"documentationUrl": "https://istio.io/latest/docs/reference/config/analysis/ist0106/?ref=mizzenctl-analyze",
\t\t"level": "Error",
\t\t"message": "Schema validation error: YAML: bad",
\t\t"reference": "bad.yaml:3"
\t}
]
`,
  );
  assert.equal(formatMessages([], 'json'), '[]\n');
});

test('yaml output is the same list', () => {
  const text = formatMessages([notFound, info], 'yaml');
  assert.deepEqual(parse(text), [toRecord(notFound), toRecord(info)]);
  assert.match(text, /^- code: IST0101\n {2}documentationUrl: /);
  assert.equal(formatMessages([], 'yaml'), '[]\n');
  const mzn: AnalysisMessage = { ...info, type: Messages.ConflictingDestinationRulesHost };
  assert.equal('documentationUrl' in toRecord(mzn), false);
});
