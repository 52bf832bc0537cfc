/**
 * Compression of a batch's records section. Kafka's codec 3 is the lz4 *frame* format (magic
 * 0x184D2204), not raw lz4 blocks. lz4-napi's default frame (independent 64 KiB blocks, no
 * checksums) is what Kafka itself writes and reads; the batch CRC already covers the compressed
 * bytes, so frame checksums would only cost time.
 */
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { RunnelError } from '../common/errors.js';
import { Codec } from './batch-header.js';

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

export function lz4FrameDecompress(data: Buffer): Buffer {
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
