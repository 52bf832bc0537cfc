export { GroupConsumer } from './group-consumer.js';
export { GROUP_DEFAULTS, type GroupConsumerOptions } from './options.js';
export { withDeadLetter, type DeadLetterOptions } from './dead-letter.js';
