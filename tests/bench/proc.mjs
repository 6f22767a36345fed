// CPU clocks from Linux's /proc, for the bench's servers and clients.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** A `/proc/…/stat` file: the name in its parentheses and utime + stime in ms. */
export function statCpu(file) {
  const stat = fs.readFileSync(file, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    ms: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK,
  };
}
