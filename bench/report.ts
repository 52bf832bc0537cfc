/**
 * What every benchmark reports the same way: medians, paired-ratio comparisons against a
 * baseline measured in the same run, and plain-text tables.
 */
import fs from 'node:fs';
import os from 'node:os';
export interface Comparison {
  name: string;
  subject: string;
  baseline: string;
  /** Median of the per-repetition ratios subject / baseline (bytes per second). */
  ratio: number;
  ratioPerRep: number[];
  target: number | null;
  pass: boolean | null;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One table row: the first cell left-aligned, the others right-aligned. */
export function row(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
}

export function comparisonTable(list: Comparison[]): string[] {
  const widths = [44, 30, 5, 16, 6, 6];
  const lines = [row(['comparison', 'subject / baseline', 'ratio', 'per rep', 'target', 'result'], widths)];
  for (const c of list) {
    const perRep = c.ratioPerRep.map((r) => r.toFixed(2)).join(' ');
    const target = c.target === null ? '-' : `>=${c.target.toFixed(2)}`;
    const result = c.pass === null ? 'info' : c.pass ? 'PASS' : 'FAIL';
    lines.push(row([c.name, `${c.subject} / ${c.baseline}`, c.ratio.toFixed(2), perRep, target, result], widths));
  }
  return lines;
}

/**
 * Prints the table and writes the JSON document: to FILE, or with `-` the JSON goes to stdout
 * and the table to stderr (so `--json - | jq` works).
 */
export function writeReport(header: string, table: string, document: unknown, jsonTarget: string | null): void {
  const json = `${JSON.stringify(document, null, 2)}\n`;
  if (jsonTarget === '-') {
    process.stderr.write(header + table);
    process.stdout.write(json);
    return;
  }
  process.stdout.write(header + table);
  if (jsonTarget !== null) {
    fs.writeFileSync(jsonTarget, json);
    process.stdout.write(`JSON written to ${jsonTarget}\n`);
  }
}

/** The machine a run was made on, for the JSON document; `extra` adds tool versions. */
export function machine(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryBytes: os.totalmem(),
    freeMemoryBytesAtStart: os.freemem(),
    loadAverageAtStart: os.loadavg(),
    node: process.version,
    v8: process.versions.v8,
    ...extra,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  };
}
