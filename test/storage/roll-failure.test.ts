/**
 * A roll whose index write fails (issue 11, finding 19) is a storage failure like any other:
 * the append that rolled gets STORAGE_ERROR (a typed error, not a raw EISDIR), and the failure
 * is sticky for the log, as after a failed append or fsync. The fault is real: the active
 * segment's offset-index path is made a directory, so opening it for writing fails.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isRunnelError } from '../../src/common/errors.js';
import { makeBatch, openLog, tempDir } from './helpers.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('storage: a failed index write at roll', () => {
  it('throws STORAGE_ERROR and makes the log refuse appends until reopened', () => {
    const dir = tempDir();
    const { log } = openLog(dir, {}, { segmentBytes: 8 * 1024, maxBatchBytes: 4 * 1024, indexIntervalBytes: 256 });
    const batchBytes = makeBatch({ records: 2, valueBytes: 400 }).length;
    // Fill the first segment: the next batch rolls it.
    while (log.sizeBytes + batchBytes <= 8 * 1024) log.appendSync(makeBatch({ records: 2, valueBytes: 400 }));
    expect(log.segmentCount).toBe(1);
    const indexFile = `${dir}/00000000000000000000.index`;
    fs.rmSync(indexFile, { force: true });
    fs.mkdirSync(indexFile);

    const rolled = thrown(() => log.appendSync(makeBatch({ records: 2, valueBytes: 400 })));
    expect(isRunnelError(rolled), String(rolled)).toBe(true);
    expect(rolled).toMatchObject({ code: 'STORAGE_ERROR' });
    expect(log.failed).toMatchObject({ code: 'STORAGE_ERROR' });
    // Sticky: the next append fails with the same error without touching the files again.
    fs.rmdirSync(indexFile);
    expect(thrown(() => log.appendSync(makeBatch({ records: 1 })))).toBe(log.failed);
    log.closeAbruptly();
  });
});
