/** The CEL syntax checker behind Telemetry access-log filters and tag values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CelSyntaxError, celSyntaxError, parseCel } from '../../../src/api/telemetry/cel.ts';

describe('valid CEL', () => {
  for (const expr of [
    'response.code >= 400',
    "response.code >= 400 || xds.cluster_name == 'BlackHoleCluster'",
    "request.headers['x-user'] == \"alice\" && !request.url_path.startsWith('/health')",
    'has(request.headers.foo) ? 1 : 2',
    'a ? b : c ? d : e',
    '[1, 2, 3].exists(x, x > 2)',
    "{'a': 1, 'b': 2}['a'] == 1u",
    'request.size in [1, 2, 3]',
    'google.protobuf.Duration{seconds: 5}',
    'string(destination.port)',
    "r'raw\\d' + b\"bytes\" + '''multi\nline'''",
    '-1 - -2.5e3 * 0x1F % 3 / 1.0',
    '.a.b',
    "filter_state['wasm.istio_responseClass'] == '5xx'",
    'true && false || null == null',
    'a[0].b(c)[1]',
    '[1, 2,]',
    '"\\u00e9\\x41\\101\\n"',
    '1 < 2 && 2 <= 3 && 4 > 3 && 4 >= 4 && 1 != 2',
    '// a comment\nresponse.code == 200',
  ]) {
    it(JSON.stringify(expr), () => assert.equal(celSyntaxError(expr), undefined));
  }
});

describe('invalid CEL, with where it stopped', () => {
  for (const [expr, message] of [
    ['', 'the expression is empty at 1:1'],
    ['   ', 'the expression is empty at 1:1'],
    ['response.code >=', 'expected an expression, found the end of the expression at 1:17'],
    ['a &&& b', 'unexpected character "&" at 1:5'],
    ['(a', 'expected ")", found the end of the expression at 1:3'],
    ['a b', 'expected an operator or the end of the expression, found "b" at 1:3'],
    ["'unterminated", 'unterminated string literal at 1:1'],
    ["'line\nbreak'", 'unterminated string literal at 1:1'],
    ['x.', 'expected a field name, found the end of the expression at 1:3'],
    ['1 = 2', 'unexpected character "=" at 1:3'],
    ['if > 2', '"if" is a reserved word at 1:1'],
    ['foo(', 'expected an expression, found the end of the expression at 1:5'],
    ['a ? b', 'expected ":", found the end of the expression at 1:6'],
    ["'\\q'", 'invalid escape sequence in string at 1:2'],
    ['{1:}', 'expected an expression, found "}" at 1:4'],
    ['12abc', 'malformed number "12a" at 1:1'],
    ['a ==\n  == b', 'expected an expression, found "==" at 2:3'],
    // The middle of a conditional is a conditionalOr in CEL's grammar: nesting needs parentheses.
    ['a ? b ? c : d : e', 'expected ":", found "?" at 1:7'],
  ] as const) {
    it(JSON.stringify(expr), () => assert.equal(celSyntaxError(expr), message));
  }
  it('deep nesting is refused, not a stack overflow', () => {
    assert.match(celSyntaxError(`${'('.repeat(300)}a${')'.repeat(300)}`) ?? '', /nested too deeply/);
    assert.match(celSyntaxError(`${'!'.repeat(100_000)}a`) ?? '', /nested too deeply/);
  });
  it('parseCel throws a CelSyntaxError with the offset', () => {
    assert.throws(
      () => parseCel('a +'),
      (e: unknown) => e instanceof CelSyntaxError && e.offset === 3,
    );
  });
});
