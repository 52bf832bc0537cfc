/**
 * The broker's HTTP/2 receive windows, as a plain node:http2 client sees them: the SETTINGS
 * initial window (per stream) and the connection window, both `limits.http2WindowBytes`.
 */
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { startTestBroker } from './helpers.js';

interface Windows {
  initialWindowSize: number;
  connectionWindowBytes: number;
}

/** Connects, waits for the broker's SETTINGS and its connection WINDOW_UPDATE, and reports both. */
async function windowsOf(port: number, expectedConnectionWindow: number): Promise<Windows> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<Windows>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new Error(`no window of ${expectedConnectionWindow} bytes within 3 s: ${JSON.stringify(session.state)}`));
      }, 3_000);
      session.on('error', reject);
      // The broker sends a second SETTINGS frame with the window, then a WINDOW_UPDATE; each
      // arrives as its own event, so check after every one and after a ping round trip.
      const check = (): void => {
        if (settled) return;
        const initialWindowSize = session.remoteSettings.initialWindowSize ?? 0;
        const connectionWindowBytes = session.state.remoteWindowSize ?? 0;
        if (connectionWindowBytes >= expectedConnectionWindow && initialWindowSize === expectedConnectionWindow) {
          settled = true;
          clearTimeout(timer);
          resolve({ initialWindowSize, connectionWindowBytes });
        } else {
          session.ping(() => setTimeout(check, 10));
        }
      };
      session.on('remoteSettings', check);
    });
  } finally {
    session.destroy();
  }
}

describe('HTTP/2 receive windows', () => {
  it('advertises 4 MiB per stream and per connection by default', async () => {
    const { running } = await startTestBroker();
    const windows = await windowsOf(running.port, 4 * 1024 * 1024);
    expect(windows).toEqual({ initialWindowSize: 4 * 1024 * 1024, connectionWindowBytes: 4 * 1024 * 1024 });
  });

  it('follows limits.http2WindowBytes', async () => {
    const { running } = await startTestBroker({ set: ['limits.http2WindowBytes=1048576'] });
    const windows = await windowsOf(running.port, 1024 * 1024);
    expect(windows).toEqual({ initialWindowSize: 1024 * 1024, connectionWindowBytes: 1024 * 1024 });
  });
});
