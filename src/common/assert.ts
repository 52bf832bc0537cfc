/**
 * Assertions for programmer errors: an invariant that cannot fail unless Runnel itself is wrong.
 * They are always on. Operating errors (bad input, disk full) are RunnelErrors, never asserts.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(`assertion failed: ${message}`);
}
