/**
 * Allocates producer ids for idempotent producers. Ids are handed out from blocks of
 * BLOCK_SIZE whose end is persisted (`<data>/meta/producer-id-block`) before any id of the
 * block is given, so a restart never hands out an id twice, at the cost of skipping the rest
 * of a block.
 */
import fs from 'node:fs';
import path from 'node:path';
import { mkdirDurableSync, writeFileAtomicSync } from '../storage/file-io.js';

const BLOCK_SIZE = 1000;

export class ProducerIdAllocator {
  private next: number;
  private blockEnd: number;
  private readonly file: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'meta', 'producer-id-block');
    mkdirDurableSync(path.dirname(this.file));
    let persistedEnd = 0;
    try {
      const value = Number(fs.readFileSync(this.file, 'utf8').trim());
      if (Number.isSafeInteger(value) && value >= 0) persistedEnd = value;
    } catch {
      // first start
    }
    // Id 0 is never handed out: it is what an unset proto3 field reads as.
    this.next = Math.max(persistedEnd, 1);
    this.blockEnd = persistedEnd;
  }

  allocate(): number {
    if (this.next >= this.blockEnd) {
      this.blockEnd = this.next + BLOCK_SIZE;
      writeFileAtomicSync(this.file, `${this.blockEnd}\n`);
    }
    return this.next++;
  }

  /** True when `producerId` may have been handed out by this broker. */
  isKnown(producerId: number): boolean {
    return producerId >= 1 && producerId < this.blockEnd;
  }
}
