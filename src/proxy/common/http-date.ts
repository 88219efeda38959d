/** The `date` header value, formatted once per second (Envoy's date provider). */
let cachedSecond = -1;
let cached = '';

export function httpDate(now: number = Date.now()): string {
  const s = Math.floor(now / 1000);
  if (s !== cachedSecond) {
    cachedSecond = s;
    cached = new Date(s * 1000).toUTCString();
  }
  return cached;
}
