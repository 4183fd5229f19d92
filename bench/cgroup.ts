/**
 * A memory cgroup for one benchmark process, to measure llm-authz under a container memory limit
 * as Kubernetes sets one (deploy/kubernetes/deployment/deployment.yaml: 256 MiB). Node sizes V8's heap from
 * the limit it finds in its cgroup. Needs root and a memory controller: cgroup v2 with `memory`
 * in the root's subtree_control, or cgroup v1's memory hierarchy.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

export interface MemoryCgroup {
  /** Writing a pid here moves that process into the cgroup. */
  readonly procsFile: string;
  /** 1 or 2: the memory.stat keys differ (v1: rss, cache, mapped_file; v2: anon, file, file_mapped). */
  readonly version: 1 | 2;
  /** Current charge, in MiB. */
  usageMiB(): number;
  /** memory.stat as numbers (bytes, or counts for the event counters such as pgmajfault). */
  stat(): Record<string, number>;
  /** Times the charge hit the limit (v1 memory.failcnt, v2 memory.events `max`). */
  limitHits(): number;
  /** Peak memory charged to the cgroup, in MiB. */
  peakMiB(): number;
  /** Times the kernel killed a process of the cgroup for memory. */
  oomKills(): number;
  remove(): void;
}

const V2_ROOT = '/sys/fs/cgroup';
const V1_ROOT = '/sys/fs/cgroup/memory';

function words(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split(/\s+/) : [];
}

function numberIn(file: string, pattern?: RegExp): number {
  if (!existsSync(file)) return Number.NaN;
  const text = readFileSync(file, 'utf8');
  const m = pattern ? pattern.exec(text)?.[1] : text.trim();
  return m === undefined ? Number.NaN : Number(m);
}

/** Where each version keeps the limit, the peak usage and the OOM kill count. */
interface Layout {
  readonly root: string;
  readonly limit: string;
  readonly peak: string;
  readonly oomFile: string;
  readonly usage: string;
  readonly version: 1 | 2;
  /** What the limit file takes for no limit. */
  readonly unlimited: string;
}
const V2: Layout = { root: V2_ROOT, limit: 'memory.max', peak: 'memory.peak', oomFile: 'memory.events', usage: 'memory.current', version: 2, unlimited: 'max' };
const V1: Layout = {
  root: V1_ROOT,
  limit: 'memory.limit_in_bytes',
  peak: 'memory.max_usage_in_bytes',
  oomFile: 'memory.oom_control',
  usage: 'memory.usage_in_bytes',
  version: 1,
  unlimited: '-1',
};

/** Creates the cgroup with the limit (Infinity: none, to read its figures only); throws with the reason when this machine cannot. */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const layout = words(`${V2_ROOT}/cgroup.subtree_control`).includes('memory') ? V2 : existsSync(`${V1_ROOT}/${V1.limit}`) ? V1 : undefined;
  if (layout === undefined) {
    throw new Error('no memory cgroup controller to write to (cgroup v2 without memory in the root subtree_control, and no cgroup v1 memory hierarchy)');
  }
  const dir = `${layout.root}/${name}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/${layout.limit}`, Number.isFinite(limitBytes) ? String(limitBytes) : layout.unlimited);
  return {
    procsFile: `${dir}/cgroup.procs`,
    version: layout.version,
    usageMiB: () => numberIn(`${dir}/${layout.usage}`) / 1048576,
    stat: () => {
      const out: Record<string, number> = {};
      for (const line of existsSync(`${dir}/memory.stat`) ? readFileSync(`${dir}/memory.stat`, 'utf8').split('\n') : []) {
        const [k, v] = line.split(' ');
        if (k && v !== undefined) out[k] = Number(v);
      }
      return out;
    },
    limitHits: () => (layout.version === 1 ? numberIn(`${dir}/memory.failcnt`) : numberIn(`${dir}/memory.events`, /^max (\d+)/m)),
    peakMiB: () => numberIn(`${dir}/${layout.peak}`) / 1048576,
    oomKills: () => numberIn(`${dir}/${layout.oomFile}`, /oom_kill (\d+)/),
    remove: () => rmdirSync(dir),
  };
}
