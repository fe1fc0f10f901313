import { now } from "../lib/clock";

/**
 * Slows password guessing: after `limit` failed sign-ins for one account name within `windowMs`, further
 * attempts for that name are refused (429) until the window has passed, without checking the password — so a
 * guesser learns nothing more. A success clears the count. Kept in memory: a restart forgets it, which costs
 * a guesser a restart per `limit` guesses, and there is only one process.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly limit = 10,
    readonly windowMs = 15 * 60_000,
  ) {}

  private recent(name: string): number[] {
    const since = now() - this.windowMs;
    const list = (this.failures.get(name.toLowerCase()) ?? []).filter((t) => t > since);
    if (list.length === 0) this.failures.delete(name.toLowerCase());
    else this.failures.set(name.toLowerCase(), list);
    return list;
  }

  /** Milliseconds until the name may try again; 0 when it may try now. */
  blockedFor(name: string): number {
    const list = this.recent(name);
    return list.length < this.limit ? 0 : list[list.length - this.limit]! + this.windowMs - now();
  }

  fail(name: string): void {
    const list = this.recent(name);
    list.push(now());
    this.failures.set(name.toLowerCase(), list.slice(-this.limit));
    // Bounded memory: names are attacker-chosen, so the map may not grow without end.
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  succeed(name: string): void {
    this.failures.delete(name.toLowerCase());
  }
}
