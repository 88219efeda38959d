import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isHttp2Protocol,
  isHttpProtocol,
  isTcpProtocol,
  isTlsProtocol,
  Protocol,
  parseProtocol,
  selectPortProtocol,
  serviceEntryPortProtocol,
} from '../../src/registry/protocol.ts';
import { assertNoOpenHandles } from '../support/fake-mizzend.ts';

test('parseProtocol is case-insensitive and knows Istio protocols', () => {
  const cases: [string, Protocol][] = [
    ['http', Protocol.HTTP],
    ['HTTP2', Protocol.HTTP2],
    ['grpc', Protocol.GRPC],
    ['GRPC-Web', Protocol.GRPC_WEB],
    ['tcp', Protocol.TCP],
    ['TLS', Protocol.TLS],
    ['https', Protocol.HTTPS],
    ['mongo', Protocol.MONGO],
    ['MySQL', Protocol.MYSQL],
    ['redis', Protocol.REDIS],
    ['udp', Protocol.UDP],
    ['http_proxy', Protocol.HTTP_PROXY],
    ['thrift', Protocol.UNSUPPORTED],
    ['', Protocol.UNSUPPORTED],
  ];
  for (const [input, want] of cases) assert.equal(parseProtocol(input), want, input);
});

test('port name prefixes select the protocol, as Kubernetes services in Istio', () => {
  const cases: [string, number, Protocol][] = [
    ['http', 9080, Protocol.HTTP],
    ['http-web', 80, Protocol.HTTP],
    ['http2-api', 80, Protocol.HTTP2],
    ['grpc', 9090, Protocol.GRPC],
    ['grpc-web', 8080, Protocol.GRPC_WEB],
    ['grpc-web-ui', 8080, Protocol.GRPC_WEB],
    ['tcp-db', 5000, Protocol.TCP],
    ['tls-passthrough', 443, Protocol.TLS],
    ['https', 443, Protocol.HTTPS],
    ['mongo', 27017, Protocol.MONGO],
    ['redis-cache', 6379, Protocol.REDIS],
    ['mysql', 3306, Protocol.MYSQL],
    ['http2foo', 80, Protocol.UNSUPPORTED],
    ['web', 80, Protocol.UNSUPPORTED],
    ['', 8080, Protocol.UNSUPPORTED],
    // Unnamed well-known ports are TCP rather than sniffed.
    ['', 3306, Protocol.TCP],
    ['db', 5432, Protocol.TCP],
  ];
  for (const [name, port, want] of cases)
    assert.equal(selectPortProtocol({ name, port }), want, `${name}:${port}`);
});

test('appProtocol wins over the port name; Kubernetes standard names map as Istio maps them', () => {
  assert.equal(selectPortProtocol({ name: 'web', port: 80, appProtocol: 'http' }), Protocol.HTTP);
  assert.equal(selectPortProtocol({ name: 'http', port: 80, appProtocol: 'tcp' }), Protocol.TCP);
  assert.equal(selectPortProtocol({ name: 'x', port: 80, appProtocol: 'kubernetes.io/h2c' }), Protocol.HTTP2);
  assert.equal(selectPortProtocol({ name: 'x', port: 80, appProtocol: 'kubernetes.io/ws' }), Protocol.HTTP);
  assert.equal(
    selectPortProtocol({ name: 'x', port: 443, appProtocol: 'kubernetes.io/wss' }),
    Protocol.HTTPS,
  );
  assert.equal(selectPortProtocol({ name: 'x', port: 80, appProtocol: 'grpc-web' }), Protocol.GRPC_WEB);
});

test('UDP transport is UDP whatever the name says', () => {
  assert.equal(selectPortProtocol({ name: 'http', port: 53, transport: 'UDP' }), Protocol.UDP);
  assert.equal(selectPortProtocol({ name: 'http', port: 80, transport: 'TCP' }), Protocol.HTTP);
});

test('ServiceEntry ports use only their protocol field', () => {
  assert.equal(serviceEntryPortProtocol({ protocol: 'GRPC' }), Protocol.GRPC);
  assert.equal(serviceEntryPortProtocol({}), Protocol.UNSUPPORTED);
});

test('protocol classes follow Istio', () => {
  assert.ok(
    isHttpProtocol(Protocol.GRPC) && isHttpProtocol(Protocol.HTTP2) && !isHttpProtocol(Protocol.HTTPS),
  );
  assert.ok(isHttp2Protocol(Protocol.GRPC_WEB) && !isHttp2Protocol(Protocol.HTTP));
  assert.ok(isTcpProtocol(Protocol.MONGO) && isTcpProtocol(Protocol.HTTPS) && !isTcpProtocol(Protocol.UDP));
  assert.ok(isTlsProtocol(Protocol.TLS) && isTlsProtocol(Protocol.HTTPS) && !isTlsProtocol(Protocol.TCP));
});

test('leaves no open handles', () => assertNoOpenHandles());
