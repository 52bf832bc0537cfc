/**
 * A per-connection share of a broker-wide limit (parked fetches, subscribe streams): how many
 * one client connection holds now, so one connection cannot take the whole allowance from
 * everyone else. Connections are named by their gRPC peer (`ip:port`), the finest identity a
 * broker without authentication has. Entries go when their count returns to 0.
 */
export class ConnectionShares {
  private readonly held = new Map<string, number>();

  constructor(readonly perConnectionMax: number) {}

  /** Counts one more for `connection`, or returns false when it holds its share already. */
  tryTake(connection: string): boolean {
    const count = this.held.get(connection) ?? 0;
    if (count >= this.perConnectionMax) return false;
    this.held.set(connection, count + 1);
    return true;
  }

  release(connection: string): void {
    const count = (this.held.get(connection) ?? 1) - 1;
    if (count <= 0) this.held.delete(connection);
    else this.held.set(connection, count);
  }
}
