/**
 * The data-directory lock: at most one process owns a data directory. It is an flock(2)
 * exclusive lock on `<data>/.lock`, held by the broker for its whole life and dropped by the
 * kernel when the broker's last descriptor of the file closes: at a clean close, and equally
 * at SIGKILL, an OOM kill or a crash. Nothing is ever "stale", so nothing is taken over.
 *
 * Why not a PID file (what this replaced): a PID names a process only inside one PID namespace.
 * Two containers sharing a volume both run their broker as PID 1 and cannot see each other's
 * processes, so each finds "1" alive (itself) and both own the directory; and a stale file
 * naming a PID that happens to be alive blocks forever. No check of PID, boot id, host name or
 * process start time can prove across namespaces that the owner is gone. An flock lives on the
 * file (inode) in the kernel, whatever namespace the holder is in: it is the only check that
 * is right there. See docs/storage.md, "The data-directory lock".
 *
 * Node has no flock, so the lock is taken by flock(1) (util-linux; BusyBox has one too) on a
 * descriptor this process opened and passes to it as fd 3: `flock -x -n 3`. flock(2) locks
 * belong to the open file description, which the child shares, so the lock outlives the child
 * (which exits at once) and is held by this process's descriptor. Node opens files with
 * O_CLOEXEC, so no later child process inherits the lock and keeps it after the broker died.
 * One spawn at start, nothing native, no install script.
 *
 * Where flock(1) is not installed (macOS has none unless util-linux comes from Homebrew), the
 * lock falls back to a check of the recorded owner: refused while it names a live PID on this
 * host (other than ours), taken otherwise. That check is blind to other PID namespaces (see
 * above), which macOS does not have; the broker says so at start (`kind: 'pid-check'`), so
 * `npm start` still needs nothing but npm.
 *
 * The file's content only informs a refused second broker (and the operator) who holds it:
 * one JSON line with pid, host name, boot id, PID namespace and process start time. It is
 * never deleted (a process that opened the old file could lock the unlinked inode while a
 * third creates and locks a new one: two owners), only rewritten by each new owner.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RunnelError, storageError } from '../common/errors.js';
import { writeFullySync } from './file-io.js';

export const LOCK_FILE = '.lock';
/** flock(1) exits 1 when -n finds the lock held (util-linux and BusyBox alike). */
const FLOCK_HELD_EXIT = 1;
/** The child only calls flock(2) and exits; this bounds a hung exec (a broken PATH entry). */
const FLOCK_SPAWN_TIMEOUT_MS = 10_000;

/** Who holds the lock, as the holder wrote it; for messages only, never for decisions. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** /proc/sys/kernel/random/boot_id: differs after a reboot. */
  bootId: string | null;
  /** The holder's PID namespace (/proc/self/ns/pid), which its pid is relative to. */
  pidNamespace: string | null;
  /** Field 22 of /proc/self/stat (clock ticks after boot): tells a reused PID apart. */
  startTimeTicks: number | null;
  lockedAtMs: number;
}

export class DirLock {
  private constructor(
    readonly file: string,
    private fd: number,
    /** 'flock' (sound across namespaces) or 'pid-check' (flock(1) not installed: see the top). */
    readonly kind: 'flock' | 'pid-check',
  ) {}

  /**
   * Takes the lock of `dataDir` (which exists) and records this process as the owner, or
   * throws STORAGE_ERROR naming the recorded owner when another process holds it.
   */
  static acquireSync(dataDir: string): DirLock {
    const file = path.join(dataDir, LOCK_FILE);
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    } catch (err) {
      throw storageError(err, `open the lock ${file}`);
    }
    try {
      const taken = flockNonBlockingSync(fd, 'exclusive', file);
      if (taken === false || (taken === 'no-flock' && ownerIsAliveElsewhere(readOwnerSync(file)))) {
        throw new RunnelError(
          'STORAGE_ERROR',
          `data directory ${dataDir} is locked by another process (${describeOwner(readOwnerSync(file))}); ` +
            'two brokers must never share a data directory: stop the other one, or give this one another --data',
        );
      }
      // Informational with flock (not fsync'd: after a crash the content is stale whatever we
      // do); the lock itself without it.
      fs.ftruncateSync(fd, 0);
      writeFullySync(fd, Buffer.from(`${JSON.stringify(currentOwner())}\n`), 0);
      return new DirLock(file, fd, taken === true ? 'flock' : 'pid-check');
    } catch (err) {
      fs.closeSync(fd);
      throw storageError(err, `lock ${file}`);
    }
  }

  /** Drops the lock (the file stays). Idempotent. */
  releaseSync(): void {
    if (this.fd < 0) return;
    fs.closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Whether a process holds the lock of `dataDir`, found without changing anything: a shared
 * lock is tried on a read-only descriptor and dropped at once. For read-only tools (verify);
 * a broker starting in the same instant could still be missed.
 */
export function probeDirLockSync(dataDir: string): { held: false } | { held: true; owner: string } {
  const file = path.join(dataDir, LOCK_FILE);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { held: false };
    throw err;
  }
  try {
    const free = flockNonBlockingSync(fd, 'shared', file);
    const held = free === false || (free === 'no-flock' && ownerIsAliveElsewhere(readOwnerSync(file)));
    return held ? { held: true, owner: describeOwner(readOwnerSync(file)) } : { held: false };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * flock(2) on `fd` through flock(1): true when taken, false when another holds it, 'no-flock'
 * when flock(1) is not installed (the caller falls back to the recorded owner).
 */
function flockNonBlockingSync(fd: number, mode: 'exclusive' | 'shared', file: string): boolean | 'no-flock' {
  const result = spawnSync('flock', [mode === 'exclusive' ? '-x' : '-s', '-n', '3'], {
    stdio: ['ignore', 'ignore', 'pipe', fd],
    timeout: FLOCK_SPAWN_TIMEOUT_MS,
  });
  if (result.error !== undefined) {
    if ((result.error as NodeJS.ErrnoException).code === 'ENOENT') return 'no-flock';
    throw new RunnelError('STORAGE_ERROR', `cannot lock ${file}: ${result.error.message}`, {}, { cause: result.error });
  }
  const stderr = result.stderr.toString().trim();
  if (result.status === 0) return true;
  if (result.status === FLOCK_HELD_EXIT && stderr === '') return false;
  throw new RunnelError('STORAGE_ERROR', `cannot lock ${file}: flock exited with ${result.status ?? result.signal}: ${stderr}`);
}

/** Without flock: the recorded owner holds the directory while it is a live process on this host, not us. */
function ownerIsAliveElsewhere(owner: LockOwner | number | string): boolean {
  if (typeof owner === 'string') return false;
  const pid = typeof owner === 'number' ? owner : owner.pid;
  if (typeof owner !== 'number' && owner.hostname !== os.hostname()) return false;
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function currentOwner(): LockOwner {
  return {
    pid: process.pid,
    hostname: os.hostname(),
    bootId: readOptional(() => fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()),
    pidNamespace: readOptional(() => fs.readlinkSync('/proc/self/ns/pid')),
    startTimeTicks: readOptional(() => processStartTicks(fs.readFileSync('/proc/self/stat', 'utf8'))),
    lockedAtMs: Date.now(),
  };
}

/** Field 22 (starttime) of /proc/<pid>/stat; the command name (field 2) may hold spaces. */
function processStartTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[19]);
}

function readOptional<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

/** The recorded owner, a bare PID (a lock file of a Runnel before the flock), or why neither. */
function readOwnerSync(file: string): LockOwner | number | string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    return `lock file unreadable: ${String(err)}`;
  }
  if (text === '') return 'lock file empty';
  if (/^\d+$/.test(text)) return Number(text);
  try {
    return JSON.parse(text) as LockOwner;
  } catch {
    return 'lock file content not understood';
  }
}

/** One clause for a message: who holds the lock, with what tells PIDs of other namespaces apart. */
function describeOwner(owner: LockOwner | number | string): string {
  if (typeof owner === 'string') return `owner unknown: ${owner}`;
  if (typeof owner === 'number') return `recorded owner: pid ${owner}, written by an older Runnel`;
  const self = currentOwner();
  const where = owner.hostname === self.hostname ? `host ${owner.hostname} (this host)` : `host ${owner.hostname}`;
  const namespace = owner.pidNamespace === self.pidNamespace ? 'this PID namespace' : `PID namespace ${owner.pidNamespace ?? 'unknown'}`;
  const since = Number.isFinite(owner.lockedAtMs) ? new Date(owner.lockedAtMs).toISOString() : 'unknown';
  return `recorded owner: pid ${owner.pid} in ${namespace} on ${where}, boot id ${owner.bootId ?? 'unknown'}, locked since ${since}`;
}
