/**
 * Compression of a batch's records section. Kafka's codec 3 is the lz4 *frame* format (magic
 * 0x184D2204), not raw lz4 blocks. lz4-napi's default frame (independent 64 KiB blocks, no
 * checksums) is what Kafka itself writes and reads; the batch CRC already covers the compressed
 * bytes, so frame checksums would only cost time.
 */
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { RunnelError } from '../common/errors.js';
import { Codec } from './batch-header.js';
import { lz4FrameDecompressedBytesMax } from './lz4-frame.js';

/**
 * The most bytes a batch's records section may decompress to, anywhere Runnel decompresses: produce,
 * recovery, compaction, ListOffsets by time and the SDK. Fixed, not a topic config, so data
 * accepted once is never refused when it is read, recovered or replicated after a config change.
 * 64 MiB is 64 times Kafka's default max.message.bytes, past any real compression ratio of a
 * default-sized batch; a batch over it is refused before its output is allocated.
 */
export const DECOMPRESSED_RECORDS_BYTES_MAX = 64 * 1024 * 1024;

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function lz4FrameCompress(data: Buffer): Buffer {
  try {
    return compressFrameSync(data);
  } catch (err) {
    // Compressing cannot fail on bad input (any bytes compress); only resources or a native bug can.
    throw new RunnelError('INTERNAL', `lz4 frame compression failed: ${describe(err)}`, {}, { cause: err });
  }
}

/**
 * Decompresses one lz4 frame whose output the frame's structure bounds by `maxBytes`: refused with
 * BATCH_TOO_LARGE before anything is allocated when it could exceed that.
 */
export function lz4FrameDecompress(data: Buffer, maxBytes = DECOMPRESSED_RECORDS_BYTES_MAX): Buffer {
  const boundBytes = lz4FrameDecompressedBytesMax(data);
  if (boundBytes > maxBytes) {
    throw new RunnelError('BATCH_TOO_LARGE', `lz4 records may decompress to ${boundBytes} bytes, more than the ${maxBytes} allowed`, { reason: 'decompressed-size' });
  }
  try {
    return decompressFrameSync(data);
  } catch (err) {
    throw new RunnelError('CORRUPT_BATCH', `lz4 frame decompression failed: ${describe(err)}`, { reason: 'bad-records' }, { cause: err });
  }
}

function unknownCodec(codec: number): RunnelError {
  return new RunnelError('CORRUPT_BATCH', `unknown compression codec ${codec}`, { reason: 'unknown-codec', codec });
}

/** Compresses a records section with `codec`; Codec.None returns `data` itself. */
export function compressRecords(codec: Codec, data: Buffer): Buffer {
  switch (codec) {
    case Codec.None:
      return data;
    case Codec.Lz4:
      return lz4FrameCompress(data);
    default:
      throw unknownCodec(codec);
  }
}

/**
 * Decompresses a records section. `codec` is the raw attributes field (bits 0-2) as read from a
 * batch, so anything but None and Lz4 (gzip, snappy, zstd, garbage) is reported as unknown-codec.
 */
export function decompressRecords(codec: number, data: Buffer): Buffer {
  switch (codec as Codec) {
    case Codec.None:
      return data;
    case Codec.Lz4:
      return lz4FrameDecompress(data);
    default:
      throw unknownCodec(codec);
  }
}
