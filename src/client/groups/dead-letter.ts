/**
 * Dead-letter handling for a message handler: retry a failing message a few times with backoff,
 * then forward it to a dead-letter topic and move on, so one poison message does not stall its
 * partition. The forwarded record keeps the key, the value and the headers, and adds headers
 * saying why, how often and from where:
 *
 *   runnel.dlt.error            the last error's message (at most 1 KiB)
 *   runnel.dlt.attempts         how many times the handler ran
 *   runnel.dlt.topic            the topic, partition, offset and timestamp it came from
 *   runnel.dlt.partition
 *   runnel.dlt.offset
 *   runnel.dlt.timestamp-ms
 *
 * The handler resolves only once the dead-letter record is acknowledged (acks all), so the
 * message counts as processed only when it is safely elsewhere. A failure to forward it is
 * thrown (the consumer then stops, and the message is delivered again later) rather than
 * dropped. Values that are not Buffers (a consumer with a deserializer) are serialized again by
 * the producer's serializer; use a consumer without one to forward the exact bytes.
 */
import { RunnelError } from '../../common/errors.js';
import { backoffMs } from '../backoff.js';
import type { ConsumerMessage } from '../consumer/types.js';
import type { Producer } from '../producer/producer.js';

export interface DeadLetterOptions<V> {
  /** Sends the dead letters (its serializer applies to non-Buffer values). */
  producer: Producer;
  deadLetterTopic: string;
  /** Retries after the first failure (default 3: the handler runs at most 4 times). */
  maxRetries?: number;
  /** First wait between attempts, doubling, at most retryBackoffMsMax (defaults 100 and 5,000). */
  retryBackoffMs?: number;
  retryBackoffMsMax?: number;
  /** Told each time a message goes to the dead-letter topic. */
  onDeadLetter?: (message: ConsumerMessage<V>, error: unknown, attempts: number) => void;
}

const ERROR_HEADER_BYTES_MAX = 1024;

export function withDeadLetter<V>(handler: (message: ConsumerMessage<V>) => unknown, options: DeadLetterOptions<V>): (message: ConsumerMessage<V>) => Promise<void> {
  const maxRetries = options.maxRetries ?? 3;
  const baseMs = options.retryBackoffMs ?? 100;
  const maxMs = options.retryBackoffMsMax ?? 5_000;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new RunnelError('INVALID_CONFIG', `maxRetries must be a non-negative integer, got ${maxRetries}`);
  if (typeof options.deadLetterTopic !== 'string' || options.deadLetterTopic === '') throw new RunnelError('INVALID_CONFIG', 'deadLetterTopic must be a topic name');
  return async (message) => {
    let lastError: unknown;
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt - 1, baseMs, maxMs)));
      try {
        await handler(message);
        return;
      } catch (err) {
        lastError = err;
      }
    }
    await forward(message, lastError, maxRetries + 1, options);
  };
}

async function forward<V>(message: ConsumerMessage<V>, error: unknown, attempts: number, options: DeadLetterOptions<V>): Promise<void> {
  const headers: Record<string, string | Buffer | null> = { ...message.headers };
  headers['runnel.dlt.error'] = truncate(error instanceof Error ? error.message : String(error));
  headers['runnel.dlt.attempts'] = String(attempts);
  headers['runnel.dlt.topic'] = message.topic;
  headers['runnel.dlt.partition'] = String(message.partition);
  headers['runnel.dlt.offset'] = String(message.offset);
  headers['runnel.dlt.timestamp-ms'] = String(message.timestampMs);
  await options.producer.send({ topic: options.deadLetterTopic, acks: 'all', messages: [{ key: message.key, value: message.value, headers }] });
  options.onDeadLetter?.(message, error, attempts);
}

function truncate(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  return bytes.length <= ERROR_HEADER_BYTES_MAX ? text : bytes.subarray(0, ERROR_HEADER_BYTES_MAX).toString('utf8');
}
