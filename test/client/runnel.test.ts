import { describe, expect, it } from 'vitest';
import { connect, msgpack, type Deserializer } from '../../src/client/index.js';
import { startTestBroker } from '../broker/helpers.js';

describe('Runnel facade', () => {
  it('creates a topic, produces objects and replays them from an offset and from a time', async () => {
    const { running } = await startTestBroker();
    const runnel = connect({ brokers: [`127.0.0.1:${running.port}`] });
    try {
      await runnel.admin().createTopic('events', { partitions: 1 });
      const producer = runnel.producer({ lingerMs: 1 });
      const sent = await producer.send({
        topic: 'events',
        messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: { n: i }, timestampMs: 1_000_000 + i * 10 })),
      });
      expect(sent.map((m) => m.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const fromOffset = runnel.consumer<{ n: number }>({ deserializer: msgpack as Deserializer<{ n: number }> });
      await fromOffset.assign([{ topic: 'events', partition: 0, from: 7 }]);
      const seen: number[] = [];
      for await (const m of fromOffset) {
        seen.push(m.value!.n);
        if (seen.length === 3) break;
      }
      expect(seen).toEqual([7, 8, 9]);
      const fromTime = runnel.consumer();
      await fromTime.assign([{ topic: 'events', partition: 0, from: { timestampMs: 1_000_050 } }]);
      for await (const m of fromTime) {
        expect(m.offset).toBe(5);
        break;
      }
    } finally {
      await runnel.close();
      await runnel.close();
    }
  });
});
