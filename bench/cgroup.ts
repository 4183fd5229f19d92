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
}
const V2: Layout = { root: V2_ROOT, limit: 'memory.max', peak: 'memory.peak', oomFile: 'memory.events' };
const V1: Layout = { root: V1_ROOT, limit: 'memory.limit_in_bytes', peak: 'memory.max_usage_in_bytes', oomFile: 'memory.oom_control' };

/** Creates the cgroup with the limit; throws with the reason when this machine cannot. */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const layout = words(`${V2_ROOT}/cgroup.subtree_control`).includes('memory') ? V2 : existsSync(`${V1_ROOT}/${V1.limit}`) ? V1 : undefined;
  if (layout === undefined) {
    throw new Error('no memory cgroup controller to write to (cgroup v2 without memory in the root subtree_control, and no cgroup v1 memory hierarchy)');
  }
  const dir = `${layout.root}/${name}`;
  mkdirSync(dir);
  writeFileSync(`${dir}/${layout.limit}`, String(limitBytes));
  return {
    procsFile: `${dir}/cgroup.procs`,
    peakMiB: () => numberIn(`${dir}/${layout.peak}`) / 1048576,
    oomKills: () => numberIn(`${dir}/${layout.oomFile}`, /oom_kill (\d+)/),
    remove: () => rmdirSync(dir),
  };
}
