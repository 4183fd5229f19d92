/** Reading a process's memory and llm-authz's Prometheus endpoint in tests. */
import { readFileSync } from 'node:fs';

/** Resident set size of a process, in MiB (Linux /proc). */
export function rssMiB(pid: number | undefined): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m?.[1] === undefined ? NaN : Number(m[1]) / 1024;
}

/** The value of a Prometheus sample (sum over label sets matching `labels`). */
export function sample(text: string, name: string, labels = ''): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labels && !line.includes(labels)) continue;
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return n;
}

export async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
