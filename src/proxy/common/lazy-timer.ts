/**
 * One timer for many deadlines, re-armed lazily. Components ask to be woken at a time
 * (`wakeAt`); the timer is only re-armed when that time is earlier than the one it is set for.
 * When it fires, the owner sweeps its components, which act on what is due and ask again for
 * their next deadline. A connection with a request every few milliseconds and a 15 s route
 * timeout therefore touches the OS timer about once per 15 s, not twice per request.
 */
export class LazyTimer {
  private handle: NodeJS.Timeout | undefined;
  private armedAt = 0;
  private readonly onFire: (now: number) => void;
  private closed = false;

  constructor(onFire: (now: number) => void) {
    this.onFire = onFire;
  }

  /** Makes sure the owner is swept at or before `deadline` (ms since epoch). */
  wakeAt(deadline: number): void {
    if (this.closed) return;
    if (this.handle !== undefined && deadline >= this.armedAt) return;
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.armedAt = deadline;
    this.handle = setTimeout(this.fire, Math.max(0, deadline - Date.now()));
  }

  private fire = (): void => {
    this.handle = undefined;
    if (this.closed) return;
    this.onFire(Date.now());
  };

  close(): void {
    this.closed = true;
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
}
