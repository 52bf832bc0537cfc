/** The RecordBatch v2 format: header layout and checks, records, varints, compression, partitioning. */
export * from './batch-header.js';
export * from './compression.js';
export * from './crc32c.js';
export * from './murmur2.js';
export * from './record-batch.js';
export * from './varint.js';
