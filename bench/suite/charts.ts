/**
 * SVG charts of a suite run, written next to its JSON: horizontal bars of records/s per system
 * (produce and consume, per record size) and latency percentile curves per rate. Plain SVG text,
 * no library: a few rectangles, lines and labels.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Figure } from './suite.js';

const COLORS = ['#2f6fdf', '#7aa6f0', '#1b4fa8', '#d9534f', '#f0ad4e', '#5cb85c', '#8e6bbf'];

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function bars(title: string, rows: { label: string; value: number }[]): string {
  const width = 720;
  const rowHeight = 26;
  const left = 220;
  const height = 50 + rows.length * rowHeight;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const body = rows
    .map((r, i) => {
      const y = 40 + i * rowHeight;
      const w = Math.max(1, ((width - left - 110) * r.value) / max);
      return `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${escape(r.label)}</text><rect x="${left}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 8}" fill="${COLORS[i % COLORS.length]}"/><text x="${(left + w + 6).toFixed(1)}" y="${y + 16}">${Math.round(r.value).toLocaleString('en-US')}/s</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13"><text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text>${body}</svg>\n`;
}

function percentiles(title: string, series: { label: string; points: [string, number][] }[]): string {
  const width = 720;
  const height = 360;
  const left = 70;
  const bottom = height - 40;
  const top = 40;
  const names = series[0]?.points.map(([name]) => name) ?? [];
  const max = Math.max(0.001, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  // Latency spans orders of magnitude: a log scale keeps p50 and max both readable.
  const lo = Math.log10(Math.min(...series.flatMap((s) => s.points.map(([, v]) => Math.max(v, 0.001)))));
  const hi = Math.log10(max);
  const y = (v: number): number => bottom - ((Math.log10(Math.max(v, 0.001)) - lo) / Math.max(hi - lo, 0.001)) * (bottom - top);
  const x = (i: number): number => left + (i * (width - left - 160)) / Math.max(names.length - 1, 1);
  const axes = names.map((name, i) => `<text x="${x(i)}" y="${bottom + 20}" text-anchor="middle">${name}</text>`).join('');
  const ticks = [lo, (lo + hi) / 2, hi].map((t) => `<text x="${left - 8}" y="${y(10 ** t) + 4}" text-anchor="end">${(10 ** t).toFixed(2)} ms</text>`).join('');
  const lines = series
    .map((s, k) => {
      const color = COLORS[k % COLORS.length];
      const d = s.points.map(([, v], i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      return `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/><text x="${width - 150}" y="${top + 16 * k}" fill="${color}">${escape(s.label)}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13"><text x="10" y="22" font-size="15" font-weight="bold">${escape(title)}</text><line x1="${left}" y1="${bottom}" x2="${width - 160}" y2="${bottom}" stroke="#999"/>${axes}${ticks}${lines}</svg>\n`;
}

/** Writes the charts as `<base>-<name>.svg` in `dir`; returns the file names. */
export function writeCharts(figures: readonly Figure[], dir: string, base: string): string[] {
  const written: string[] = [];
  const write = (name: string, svg: string): void => {
    const file = `${base}-${name}.svg`;
    fs.writeFileSync(path.join(dir, file), svg);
    written.push(file);
  };
  for (const workload of ['produce', 'consume']) {
    for (const size of [...new Set(figures.map((f) => f.recordBytes))]) {
      const rows = figures.filter((f) => f.workload === workload && f.recordBytes === size).map((f) => ({ label: f.system, value: f.recordsPerSec }));
      if (rows.length > 0) write(`${workload}-${size}b`, bars(`${workload}, ${size}-byte records (records/s)`, rows));
    }
  }
  for (const workload of [...new Set(figures.filter((f) => f.latencyMs !== undefined).map((f) => f.workload))]) {
    const series = figures
      .filter((f) => f.workload === workload && f.latencyMs !== undefined)
      .map((f) => ({ label: f.system, points: [['p50', f.latencyMs!.p50], ['p99', f.latencyMs!.p99], ['p99.9', f.latencyMs!.p999], ['max', f.latencyMs!.max]] as [string, number][] }));
    write(workload.replace(/[^a-z0-9]+/gi, '-'), percentiles(`end-to-end latency at ${workload.replace('latency ', '')}`, series));
  }
  return written;
}
