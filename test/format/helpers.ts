/** Shared by the format tests: an independent CRC-32C and typed-error assertions. */
import { expect } from 'vitest';
import { RunnelError, type ErrorCode } from '../../src/common/errors.js';
import { CRC_START, Pos } from '../../src/format/batch-header.js';

// Table-driven CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), written here so the tests
// do not trust the project's crc32c to check itself.
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Rewrites the CRC of the batch occupying exactly `batch`, so only deliberate damage remains. */
export function fixCrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(referenceCrc32c(batch.subarray(CRC_START)), Pos.crc);
  return batch;
}

export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

export function expectRunnelError(fn: () => unknown, code: ErrorCode, reason?: string): RunnelError {
  const err = thrownBy(fn);
  expect(err).toBeInstanceOf(RunnelError);
  const runnelError = err as RunnelError;
  expect(runnelError.code).toBe(code);
  if (reason !== undefined) expect(runnelError.context.reason).toBe(reason);
  return runnelError;
}

export function expectCorrupt(fn: () => unknown, reason: string): RunnelError {
  return expectRunnelError(fn, 'CORRUPT_BATCH', reason);
}
