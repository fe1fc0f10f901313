/** A FIFO async lock: `await lock.run(() => work())` runs one piece of work at a time, in arrival order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;

  /** Pieces of work waiting for their turn (the one running not counted). */
  get waiting(): number {
    return this.queued;
  }

  run<T>(work: () => Promise<T> | T): Promise<T> {
    this.queued++;
    const start = () => {
      this.queued--;
      return work();
    };
    const result = this.tail.then(start, start);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
