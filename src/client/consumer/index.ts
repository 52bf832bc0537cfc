export { Consumer } from './consumer.js';
export { CONSUMER_DEFAULTS, type AutoOffsetReset, type ConsumerOptions } from './options.js';
export type * from './types.js';
