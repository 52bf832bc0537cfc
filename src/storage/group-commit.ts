/**
 * The group commit of one partition log: the durable offset (the recovery point), the appends
 * waiting for it, and the fsync rounds that move it. One fdatasync round covers every append
 * made before it started; appends arriving while it runs wait for the next round, which covers
 * them all at once. A round fsyncs the segments rolled since the last one (with their indexes),
 * then the active segment, then the directory when entries changed.
 *
 * An fsync error fails the log (its sticky error, set through `GroupCommitLog.fail`) and every
 * waiter with it. Every fsync pins its segment (acquire/release, as reads do), so retention,
 * compaction or truncation retiring it meanwhile defers closing the descriptor: a descriptor
 * closed under a queued fdatasync failed it (EBADF), or synced whatever file reused the number.
 */
import fs from 'node:fs';
import { RunnelError } from '../common/errors.js';
import { fdatasync, fsyncDir } from './file-io.js';
import type { Segment } from './segment.js';

/** What the group commit needs of its log. */
export interface GroupCommitLog {
  readonly dir: string;
  logEndOffset(): number;
  activeSegment(): Segment;
  /** The log's sticky error, or null. */
  failed(): RunnelError | null;
  isClosed(): boolean;
  /** Makes `err` the log's sticky error (an fsync failed) and returns it. */
  fail(err: unknown): RunnelError;
  /** LOG_CLOSED with the log's context. */
  closedError(): RunnelError;
  /** After a round that moved the durable offset. */
  durableAdvanced(durableOffset: number): void;
}

interface DurableWaiter {
  offset: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class GroupCommit {
  private durable = 0;
  private waiters: DurableWaiter[] = [];
  private syncing = false;
  /** Rolled segments whose log and index files still need an fsync. */
  private unsynced: Segment[] = [];
  private dirDirty = false;
  /** fsync rounds done (each covers every append before it started): a measure of group commit. */
  rounds = 0;

  constructor(private readonly log: GroupCommitLog) {}

  /** At open: what is known durable (the log end after a clean shutdown, else the checkpoint's). */
  openedAt(durableOffset: number): void {
    this.durable = durableOffset;
  }

  /** Every offset below this is on disk (fdatasync'd), with the segments before it sealed. */
  get durableOffset(): number {
    return this.durable;
  }

  get unsyncedCount(): number {
    return this.unsynced.length;
  }

  /** A sealed segment (a roll, or kept by recovery past the durable offset) that needs its fsync. */
  sealed(segment: Segment): void {
    this.unsynced.push(segment);
    this.dirDirty = true;
  }

  /** Directory entries changed (segments created, renamed or deleted). */
  directoryChanged(): void {
    this.dirDirty = true;
  }

  /** A segment left the log (deleted or replaced): it needs no fsync any more. */
  forget(segment: Segment): void {
    this.unsynced = this.unsynced.filter((s) => s !== segment);
  }

  /** Resolves once every offset below `offset` is durable. */
  waitDurable(offset: number): Promise<void> {
    if (offset <= this.durable) return Promise.resolve();
    const failed = this.log.failed();
    if (failed !== null) return Promise.reject(failed);
    return new Promise((resolve, reject) => {
      this.waiters.push({ offset, resolve, reject });
      if (!this.syncing) void this.syncLoop();
    });
  }

  /**
   * The log was cut to `logEndOffset`: the durable offset cannot be beyond it, and appends that
   * waited for offsets past it will never be durable (rejected with `err`).
   */
  truncated(logEndOffset: number, keep: (segment: Segment) => boolean, err: RunnelError): void {
    this.unsynced = this.unsynced.filter(keep);
    this.durable = Math.min(this.durable, logEndOffset);
    this.dirDirty = true;
    this.waiters = this.waiters.filter((w) => w.offset <= logEndOffset || (w.reject(err), false));
  }

  rejectAll(err: RunnelError): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(err);
  }

  private async syncLoop(): Promise<void> {
    this.syncing = true;
    try {
      while (this.waiters.length > 0 && this.log.failed() === null && !this.log.isClosed()) {
        // Yield one turn of the event loop first: writers resumed by the previous round (and
        // appends already queued in this turn) join this round instead of each starting one.
        await nextTurn();
        const target = this.log.logEndOffset();
        const sealed = this.unsynced.splice(0);
        const dirDirty = this.dirDirty;
        this.dirDirty = false;
        try {
          await this.syncRound(sealed, this.log.activeSegment(), dirDirty);
        } catch (err) {
          this.log.fail(err);
          break;
        }
        this.rounds++;
        const advanced = target > this.durable;
        this.durable = Math.max(this.durable, target);
        this.resolveWaiters();
        if (advanced) this.log.durableAdvanced(this.durable);
      }
    } finally {
      this.syncing = false;
      if (this.log.failed() !== null || this.log.isClosed()) this.rejectAll(this.log.failed() ?? this.log.closedError());
    }
  }

  private async syncRound(sealed: Segment[], active: Segment, dirDirty: boolean): Promise<void> {
    for (const segment of sealed) {
      await syncPinned(segment, async (fd) => {
        segment.persistIndexesSync(false);
        await fdatasync(fd);
        await Promise.all([syncFile(segment.offsetIndex.file), syncFile(segment.timeIndex.file)]);
      });
    }
    await syncPinned(active, (fd) => fdatasync(fd));
    if (dirDirty) await fsyncDir(this.log.dir);
  }

  private resolveWaiters(): void {
    const waiters = this.waiters;
    this.waiters = waiters.filter((w) => w.offset > this.durable);
    for (const waiter of waiters) if (waiter.offset <= this.durable) waiter.resolve();
  }
}

/** Runs an fsync of `segment` pinned (see the top); a segment already closed was deleted: skipped. */
async function syncPinned(segment: Segment, sync: (fd: number) => Promise<void>): Promise<void> {
  if (segment.fileDescriptor < 0) return;
  segment.acquire();
  try {
    await sync(segment.fileDescriptor);
  } finally {
    segment.release();
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function syncFile(file: string): Promise<void> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no index entries yet
    throw err;
  }
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
