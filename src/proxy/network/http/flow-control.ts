/**
 * Reasons a downstream HTTP connection stops reading (bits, so several can hold at once):
 * too many pipelined bytes waiting, the upstream socket is full, or the router's request
 * buffer is full while it waits for an upstream connection. Reading resumes when none is left.
 */
export const PAUSE_STASH = 1;
export const PAUSE_UPSTREAM_FULL = 2;
export const PAUSE_BODY_BUFFER = 4;
