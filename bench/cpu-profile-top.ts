/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`, e.g. from `broker-bench.js --broker-cpu-prof
 * DIR`): the functions with the most self time, the most total (inclusive) time, and self time
 * per module (package or source file). Times come from the profile's own sample deltas.
 *
 * Usage: node dist/bench/cpu-profile-top.js FILE.cpuprofile [--top N] [--match TEXT]
 *   --top N       rows per table (default 25)
 *   --match TEXT  also list the callers' stacks (by total time) of functions whose name contains TEXT
 */
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function frameKey(frame: CallFrame): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  return `${name}  ${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
}

/** node_modules/<pkg>/... -> <pkg>/...; /abs/dist/src/x.js -> dist/src/x.js; node:internal stays. */
function shortUrl(url: string): string {
  const plain = url.replace(/^file:\/\//, '');
  const nm = plain.lastIndexOf('node_modules/');
  if (nm >= 0) return plain.slice(nm + 'node_modules/'.length);
  const dist = plain.indexOf('/dist/');
  if (dist >= 0) return plain.slice(dist + 1);
  return plain.startsWith('/') ? path.basename(plain) : plain;
}

function moduleOf(frame: CallFrame): string {
  if (frame.url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const short = shortUrl(frame.url);
  if (short.startsWith('node:')) return short.split('/').slice(0, 2).join('/');
  if (short.startsWith('@')) return short.split('/').slice(0, 2).join('/');
  if (short.startsWith('dist/')) return short;
  return short.split('/')[0]!;
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--'));
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/cpu-profile-top.js FILE.cpuprofile [--top N] [--match TEXT]\n');
    process.exit(2);
  }
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 25;
  const matchIndex = args.indexOf('--match');
  const match = matchIndex >= 0 ? args[matchIndex + 1] : undefined;
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;

  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const modules = new Map<string, number>();
  const stacks = new Map<string, number>();
  let all = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const node = byId.get(id);
    if (node === undefined) return;
    all += delta;
    const key = frameKey(node.callFrame);
    if (node.callFrame.functionName === '(idle)') idle += delta;
    self.set(key, (self.get(key) ?? 0) + delta);
    modules.set(moduleOf(node.callFrame), (modules.get(moduleOf(node.callFrame)) ?? 0) + delta);
    const seen = new Set<string>();
    const chain: string[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      const k = frameKey(frame);
      if (frame.functionName === '(root)') break;
      chain.push(k);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + delta);
    }
    if (match !== undefined && chain.some((k) => k.includes(match))) {
      const stack = chain.slice(0, 8).join('  <  ');
      stacks.set(stack, (stacks.get(stack) ?? 0) + delta);
    }
  });

  const busy = all - idle;
  const ms = (us: number): string => (us / 1000).toFixed(0).padStart(8);
  const pct = (us: number): string => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const print = (title: string, map: Map<string, number>, n: number): void => {
    process.stdout.write(`\n${title}\n${'ms'.padStart(8)} ${'busy%'.padStart(6)}  function\n`);
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${ms(us)} ${pct(us)}  ${key}\n`);
  };
  process.stdout.write(
    `${file}\nprofile ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s, samples ${(all / 1e6).toFixed(1)} s, ` +
      `idle ${(idle / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s (percentages are of busy time)\n`,
  );
  self.delete('(idle)');
  total.delete('(idle)');
  modules.delete('(idle)');
  print('self time by function', self, top);
  print('total (inclusive) time by function', total, top);
  print('self time by module', modules, top);
  if (match !== undefined) print(`stacks through "${match}" (innermost first)`, stacks, top);
}

main();
