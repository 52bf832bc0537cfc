/**
 * Client-side checks of call arguments, so a wrong type fails with a clear INVALID_ARGUMENT
 * before protobufjs silently coerces it (a string partition would become 0). Ranges beyond
 * these are the broker's to check.
 */
import { RunnelError } from '../../common/errors.js';
import type { OffsetSpec } from './types.js';

export function invalidArgument(detail: string, context: Record<string, unknown> = {}): RunnelError {
  return new RunnelError('INVALID_ARGUMENT', detail, context);
}

export function requireTopic(topic: unknown, what = 'topic'): string {
  if (typeof topic !== 'string' || topic.length === 0) throw invalidArgument(`${what} must be a non-empty string, got ${JSON.stringify(topic)}`);
  return topic;
}

export function requireInt(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(`${what} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export function requireArray<T>(value: readonly T[], what: string): readonly T[] {
  const candidate: unknown = value;
  if (!Array.isArray(candidate)) throw invalidArgument(`${what} must be an array`);
  return value;
}

export function requireOffsetSpec(spec: unknown, what = 'spec'): OffsetSpec {
  if (spec === 'earliest' || spec === 'latest') return spec;
  if (typeof spec === 'object' && spec !== null && 'timestampMs' in spec) {
    return { timestampMs: requireInt(spec.timestampMs, `${what}.timestampMs`) };
  }
  throw invalidArgument(`${what} must be 'earliest', 'latest' or { timestampMs }, got ${JSON.stringify(spec)}`);
}
