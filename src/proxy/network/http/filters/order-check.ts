/**
 * Debug-mode check of the HTTP filter call order (undici's DecoratorHandler assertions): request
 * headers first, then body and trailers, response headers before response body, nothing after
 * onDone, and onDone exactly once. On when MIZZEN_PROXY_ASSERT_FILTER_ORDER is true; the
 * connection manager then wraps every filter instance it creates. Violations throw, so tests
 * and debug runs fail loudly instead of corrupting a stream.
 */
import { defineFeature } from '../../../../lib/features.ts';
import type { HeaderMap } from '../headers.ts';
import type { FilterStatus, HttpFilter, HttpStream } from './filter.ts';

export const ASSERT_FILTER_ORDER = defineFeature<boolean>({
  name: 'MIZZEN_PROXY_ASSERT_FILTER_ORDER',
  type: 'boolean',
  default: false,
  description: 'Assert the order of HTTP filter callbacks (debug builds and tests).',
});

const S_NEW = 0;
const S_REQUEST = 1;
const S_REQUEST_DONE = 2;
const S_DONE = 3;

export class FilterOrderError extends Error {
  constructor(filter: string, call: string, why: string) {
    super(`HTTP filter ${filter}: ${call} ${why}`);
    this.name = 'FilterOrderError';
  }
}

/** Wraps a filter so out-of-order calls throw. */
export function orderChecked(inner: HttpFilter, name: string): HttpFilter {
  let req = S_NEW;
  let respHeaders = false;
  let respEnded = false;
  const fail = (call: string, why: string): never => {
    throw new FilterOrderError(name, call, why);
  };
  const live = (call: string): void => {
    if (req === S_DONE) fail(call, 'called after onDone');
  };
  const out: HttpFilter = {
    onDone(s: HttpStream): void {
      if (req === S_DONE) fail('onDone', 'called twice');
      req = S_DONE;
      inner.onDone?.(s);
    },
  };
  if (inner.onRequestHeaders) {
    out.onRequestHeaders = (s: HttpStream, end: boolean): FilterStatus => {
      live('onRequestHeaders');
      if (req !== S_NEW) fail('onRequestHeaders', 'called twice');
      req = end ? S_REQUEST_DONE : S_REQUEST;
      return inner.onRequestHeaders!(s, end);
    };
  }
  if (inner.onRequestBody) {
    out.onRequestBody = (s: HttpStream, data: Buffer, end: boolean): FilterStatus => {
      live('onRequestBody');
      if (req === S_REQUEST_DONE) fail('onRequestBody', 'called after the request ended');
      if (end) req = S_REQUEST_DONE;
      return inner.onRequestBody!(s, data, end);
    };
  }
  if (inner.onRequestTrailers) {
    out.onRequestTrailers = (s: HttpStream, t: HeaderMap): FilterStatus => {
      live('onRequestTrailers');
      if (req === S_REQUEST_DONE) fail('onRequestTrailers', 'called after the request ended');
      return inner.onRequestTrailers!(s, t);
    };
  }
  if (inner.onResponseHeaders) {
    out.onResponseHeaders = (s: HttpStream, end: boolean): FilterStatus => {
      live('onResponseHeaders');
      if (respHeaders) fail('onResponseHeaders', 'called twice');
      respHeaders = true;
      respEnded = end;
      return inner.onResponseHeaders!(s, end);
    };
  }
  if (inner.onResponseBody) {
    out.onResponseBody = (s: HttpStream, data: Buffer, end: boolean): FilterStatus => {
      live('onResponseBody');
      if (!respHeaders && inner.onResponseHeaders) fail('onResponseBody', 'called before onResponseHeaders');
      if (respEnded) fail('onResponseBody', 'called after the response ended');
      if (end) respEnded = true;
      return inner.onResponseBody!(s, data, end);
    };
  }
  if (inner.onResponseTrailers) {
    out.onResponseTrailers = (s: HttpStream, t: HeaderMap): FilterStatus => {
      live('onResponseTrailers');
      return inner.onResponseTrailers!(s, t);
    };
  }
  // Timer sweeps reach filters that keep deadlines (the router).
  const wake = (inner as { onWake?: (s: unknown, now: number) => void }).onWake;
  if (wake)
    (out as { onWake?: (s: unknown, now: number) => void }).onWake = (s, now) => wake.call(inner, s, now);
  return out;
}
