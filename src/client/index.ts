/**
 * The Runnel SDK: `new Runnel({ brokers })` (or `connect(...)`) gives producers, consumers
 * (of assigned partitions, or members of a consumer group) and an admin client sharing one
 * connection. `close()` closes what it made, producers first (so
 * buffered messages are delivered), then the connection; it is idempotent. This module, and
 * everything under src/client, never loads broker or storage code.
 */
import { Admin, type AdminOptions } from './admin/index.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { Consumer, type ConsumerOptions } from './consumer/index.js';
import { GroupConsumer, type GroupConsumerOptions } from './groups/index.js';
import { Producer, type ProducerOptions } from './producer/index.js';

export class Runnel {
  readonly connection: Connection;
  private readonly producers = new Set<Producer>();
  private readonly consumers = new Set<Consumer<unknown> | GroupConsumer<unknown>>();
  private adminClient: Admin | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: ConnectionOptions) {
    this.connection = new Connection(options);
  }

  producer(options?: ProducerOptions): Producer {
    const producer = new Producer(this.connection, options);
    this.producers.add(producer);
    return producer;
  }

  /** With `groupId` (and `topics`): a member of a consumer group; without: a consumer of partitions you assign. */
  consumer<V = Buffer>(options: GroupConsumerOptions<V>): GroupConsumer<V>;
  consumer<V = Buffer>(options?: ConsumerOptions<V>): Consumer<V>;
  consumer<V = Buffer>(options?: ConsumerOptions<V> | GroupConsumerOptions<V>): Consumer<V> | GroupConsumer<V> {
    const consumer = options !== undefined && 'groupId' in options ? new GroupConsumer<V>(this.connection, options) : new Consumer<V>(this.connection, options);
    this.consumers.add(consumer);
    return consumer;
  }

  admin(options?: AdminOptions): Admin {
    this.adminClient ??= new Admin(this.connection, options);
    return this.adminClient;
  }

  /** Delivers what producers buffered, ends consumers, closes the connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.producers].map((p) => p.close()));
      await Promise.allSettled([...this.consumers].map((c) => c.close()));
      await this.adminClient?.close();
      this.connection.close();
    })();
    return this.closing;
  }
}

export function connect(options: ConnectionOptions): Runnel {
  return new Runnel(options);
}

export { Connection, type ConnectionOptions } from './connection.js';
export { json, msgpack, text, type Deserializer, type Serializer } from './serialization.js';
export { RunnelError, isRunnelError, type ErrorCode } from '../common/errors.js';
export * from './producer/index.js';
export * from './consumer/index.js';
export * from './groups/index.js';
export * from './admin/index.js';
