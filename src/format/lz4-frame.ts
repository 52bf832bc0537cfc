/**
 * Structure of an lz4 frame (the lz4 frame format, v1.6), read without decompressing, so that
 * the most a frame can expand to is known before a byte of output is allocated. lz4-napi's
 * decoder takes no output limit: a 400 KiB frame of well-formed records can inflate to 100 MiB.
 *
 *   magic            4   0x184D2204, little-endian
 *   FLG              1   bits 7-6 version (01), bit 5 block independence, bit 4 block checksums,
 *                        bit 3 content size present, bit 2 content checksum, bit 1 reserved (0),
 *                        bit 0 dictionary id present
 *   BD               1   bits 6-4 block maximum size (4: 64 KiB, 5: 256 KiB, 6: 1 MiB, 7: 4 MiB),
 *                        other bits reserved (0)
 *   content size     8   when FLG bit 3
 *   dictionary id    4   when FLG bit 0
 *   header checksum  1
 *   blocks, each:
 *     size           4   little-endian; bit 31 set = stored uncompressed; 0 = end mark
 *     data           size bytes
 *     checksum       4   when FLG bit 4
 *   content checksum 4   when FLG bit 2, after the end mark
 *
 * A compressed block of n bytes decodes to at most 255 n bytes (each input byte adds at most
 * 255 to a literal or match length) and never to more than the block maximum, which the decoder
 * enforces; so the sum over blocks bounds the output. Kafka writes exactly one frame per batch:
 * anything after the frame is refused rather than guessed at.
 */
import { RunnelError } from '../common/errors.js';

const FRAME_MAGIC = 0x184d2204;
const BLOCK_UNCOMPRESSED_BIT = 0x80000000;
const MAX_EXPANSION_PER_BYTE = 255;
const BLOCK_MAX_BYTES_BY_ID: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

function badFrame(detail: string): RunnelError {
  return new RunnelError('CORRUPT_BATCH', `lz4 frame: ${detail}`, { reason: 'bad-records' });
}

/**
 * The most bytes `frame` can decompress to. Throws CORRUPT_BATCH (reason bad-records) for a
 * frame whose structure is wrong: magic, version, reserved bits, a block over the block
 * maximum, a missing end mark, bytes after the frame. Reads only the frame and block headers.
 */
export function lz4FrameDecompressedBytesMax(frame: Buffer): number {
  if (frame.length < 7) throw badFrame(`${frame.length} bytes are too short for a frame header`);
  if (frame.readUInt32LE(0) !== FRAME_MAGIC) throw badFrame('bad magic number');
  const flg = frame[4]!;
  const bd = frame[5]!;
  if (flg >> 6 !== 0b01 || (flg & 0b10) !== 0 || (bd & 0b10001111) !== 0) throw badFrame('unsupported version or reserved bits set');
  const blockMaxBytes = BLOCK_MAX_BYTES_BY_ID[(bd >> 4) & 0b111];
  if (blockMaxBytes === undefined) throw badFrame(`invalid block maximum size id ${(bd >> 4) & 0b111}`);
  const blockChecksumBytes = flg & 0b10000 ? 4 : 0;
  const contentChecksumBytes = flg & 0b100 ? 4 : 0;
  let pos = 6 + (flg & 0b1000 ? 8 : 0) + (flg & 0b1 ? 4 : 0) + 1;
  let bound = 0;
  for (;;) {
    if (pos + 4 > frame.length) throw badFrame('ends before its end mark');
    const word = frame.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const blockBytes = word & ~BLOCK_UNCOMPRESSED_BIT;
    if (blockBytes > blockMaxBytes) throw badFrame(`a block of ${blockBytes} bytes exceeds the block maximum ${blockMaxBytes}`);
    bound += (word & BLOCK_UNCOMPRESSED_BIT) !== 0 ? blockBytes : Math.min(blockMaxBytes, blockBytes * MAX_EXPANSION_PER_BYTE);
    pos += blockBytes + blockChecksumBytes;
  }
  pos += contentChecksumBytes;
  if (pos !== frame.length) throw badFrame(pos > frame.length ? 'truncated' : `${frame.length - pos} bytes after the frame`);
  return bound;
}
