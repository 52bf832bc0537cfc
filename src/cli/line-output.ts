/**
 * Line output for the commands that print a lot (`runnel debug ...`): lines are gathered into
 * chunks of CHUNK_BYTES, each chunk written with backpressure (wait for 'drain' when the
 * stream's buffer is full), and after each chunk the event loop gets a turn, so an EPIPE from
 * a reader that went away (`| head`) is seen and the printing stops, instead of the process
 * dying of an unhandled 'error' event, or writing a whole segment into a closed pipe.
 */
import { once } from 'node:events';

const CHUNK_BYTES = 64 * 1024;

export class LineOutput {
  private pending: string[] = [];
  private pendingChars = 0;
  private closedValue = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stdout) {
    // Kept for the process's life: an EPIPE of the last write may be reported after the end.
    stream.on('error', () => (this.closedValue = true));
  }

  /** True once the reader went away; callers stop producing lines. */
  get closed(): boolean {
    return this.closedValue;
  }

  async line(text: string): Promise<void> {
    this.pending.push(text);
    this.pendingChars += text.length + 1;
    if (this.pendingChars >= CHUNK_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length > 0 && !this.closedValue) {
      const chunk = `${this.pending.join('\n')}\n`;
      if (!this.stream.write(chunk)) await this.drained();
    }
    this.pending = [];
    this.pendingChars = 0;
    // A turn of the event loop, so an 'error' of this write (pipes to a process are written
    // synchronously on Linux, errors reported a tick later) sets `closed` before the next chunk.
    await new Promise((resolve) => setImmediate(resolve));
  }

  /** Waits for 'drain' or 'close'; the abort removes the listeners of the one that did not come. */
  private async drained(): Promise<void> {
    const abort = new AbortController();
    try {
      await Promise.race([once(this.stream, 'drain', { signal: abort.signal }), once(this.stream, 'close', { signal: abort.signal })]);
    } catch {
      // once() rejects on 'error' (the EPIPE we are waiting to learn about): the reader is gone.
      this.closedValue = true;
    } finally {
      abort.abort();
    }
  }
}
