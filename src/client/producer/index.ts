/** The producer half of the SDK. */
export { Producer } from './producer.js';
export { PRODUCER_DEFAULTS, resolveProducerOptions, type ProducerOptions, type ResolvedProducerOptions } from './options.js';
export type { Acks, Compression, HeaderValue, MessageHeaders, ProducerMessage, ProducerStats, RecordMetadata, SendRequest } from './types.js';
