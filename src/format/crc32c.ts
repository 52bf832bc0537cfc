/** CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2; hardware-accelerated by @node-rs/crc32. */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

export function crc32c(bytes: Uint8Array): number {
  return nativeCrc32c(bytes) >>> 0;
}
