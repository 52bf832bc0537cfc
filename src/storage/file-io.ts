/**
 * Thin helpers over node:fs for the storage layer. Appends are synchronous on purpose: a write
 * into the page cache costs microseconds, and doing it inline keeps every append atomic with
 * respect to the event loop (no interleaving, no append lock). Anything that can wait on the
 * device (fdatasync, reads of cold data) goes through the thread pool instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const fdatasyncAsync = promisify(fs.fdatasync);
const fsyncAsync = promisify(fs.fsync);
const readAsync = promisify(fs.read);

/** Writes all of `buf` at `position`, looping over short writes. */
export function writeFullySync(fd: number, buf: Uint8Array, position: number): void {
  let written = 0;
  while (written < buf.length) {
    written += fs.writeSync(fd, buf, written, buf.length - written, position + written);
  }
}

/** Reads up to `length` bytes at `position`; returns fewer only at end of file. */
export async function readAt(fd: number, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await readAsync(fd, buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

export function readAtSync(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got === length ? buf : buf.subarray(0, got);
}

export function fdatasync(fd: number): Promise<void> {
  return fdatasyncAsync(fd);
}

export function fsync(fd: number): Promise<void> {
  return fsyncAsync(fd);
}

/** Sees every directory fsync once it is done (the test seam below). */
export type DirectoryFsyncObserver = (dir: string) => void;
let directoryFsyncObserver: DirectoryFsyncObserver | null = null;

/**
 * Test seam: tests install an observer to check which directories were fsynced, and when (a
 * missing directory fsync cannot be seen otherwise without a power cut). Null in production;
 * directory fsyncs are rare (create, roll, rename), never per append.
 */
export function observeDirectoryFsyncs(observer: DirectoryFsyncObserver | null): void {
  directoryFsyncObserver = observer;
}

/** Makes a directory's entries (created, renamed, deleted files) durable. */
export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  directoryFsyncObserver?.(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  directoryFsyncObserver?.(dir);
}

/**
 * `mkdir -p` whose result survives a power cut: every directory it creates is fsynced in its
 * parent before it returns. A directory that already existed costs nothing.
 */
export function mkdirDurableSync(dir: string): void {
  const first = fs.mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  const created = path.resolve(first);
  const parents: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    parents.push(path.dirname(d));
    if (d === created) break;
  }
  for (const parent of parents.reverse()) fsyncDirSync(parent);
}

/**
 * Replaces `file` with `data` so that a crash leaves either the old or the new content, never
 * a mix: write a temp file, fsync it, rename over the target, fsync the directory.
 */
export function writeFileAtomicSync(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    writeFullySync(fd, bytes, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDirSync(path.dirname(file));
}

export function fileSizeSync(fd: number): number {
  return fs.fstatSync(fd).size;
}

export function existsSync(file: string): boolean {
  return fs.existsSync(file);
}
