/** CPU time, page faults and resident memory of a process (also by mapping), from /proc (Linux). */
import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

/** The fields of /proc/PID/stat after the command name, counting from the state field. */
function statFields(file: string): string[] {
  const stat = readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user, system) and page faults (minor, major) of a process. */
export function procStat(pid: number): { utime: number; stime: number; minflt: number; majflt: number } {
  const f = statFields(`/proc/${pid}/stat`);
  return { minflt: Number(f[7]), majflt: Number(f[9]), utime: Number(f[11]) / TICKS, stime: Number(f[12]) / TICKS };
}

export function cpuSeconds(pid: number): number {
  const s = procStat(pid);
  return s.utime + s.stime;
}

/** CPU seconds of this process's reaped children (a load generator, once it has exited). */
export function childrenCpuSeconds(): number {
  const f = statFields('/proc/self/stat');
  return (Number(f[13]) + Number(f[14])) / TICKS;
}

/** A memory field of /proc/PID/status (VmRSS, RssAnon, RssFile, ...), in MiB. */
export function statusMiB(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** The machine's CPU jiffies from /proc/stat: all of them and those stolen by the hypervisor. */
export function machineCpu(): { total: number; steal: number } {
  const fields = (/^cpu +(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1] ?? '').split(/ +/).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  return { total: fields.slice(0, 8).reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
}

/** What else the machine did over a measured window: load average at its end and the share of CPU time stolen by the hypervisor. */
export interface MachineNoise {
  readonly load1: number;
  readonly stealPct: number;
}

/** Starts a window; the returned function ends it. */
export function noiseWindow(load1: () => number): () => MachineNoise {
  const a = machineCpu();
  return () => {
    const b = machineCpu();
    const total = b.total - a.total;
    return { load1: load1(), stealPct: total > 0 ? (100 * (b.steal - a.steal)) / total : 0 };
  };
}

export function rssMiB(pid: number): number {
  return statusMiB(pid, 'VmRSS');
}

/** Rss, anonymous and swap kB summed by mapping name ([anon] for unnamed mappings). */
export function smapsByMapping(pid: number): Map<string, { rss: number; anon: number; count: number }> {
  const out = new Map<string, { rss: number; anon: number; count: number }>();
  let cur: { rss: number; anon: number; count: number } | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[2] === '' ? '[anon]' : head[2]!.replace(/^.*\/node_modules\//, 'node_modules/');
      const key = `${name} ${head[1]!.includes('x') ? 'x' : ''}`.trim();
      cur = out.get(key) ?? { rss: 0, anon: 0, count: 0 };
      cur.count++;
      out.set(key, cur);
      continue;
    }
    const f = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line);
    if (f && cur) {
      if (f[1] === 'Rss') cur.rss += Number(f[2]);
      else cur.anon += Number(f[2]);
    }
  }
  return out;
}

/**
 * A thread's scheduling (by default the process's main thread, whose id is the process id: Node's
 * event loop): its time on a CPU and its time runnable but waiting for one (/proc/PID/task/TID/
 * schedstat, ns), and its context switches: voluntary (it blocked: waiting for I/O or a lock, or
 * idle) and involuntary (the kernel took the CPU from it while it was running).
 */
export interface ThreadSched {
  readonly onCpuMs: number;
  readonly runqueueWaitMs: number;
  readonly voluntary: number;
  readonly involuntary: number;
}

export function threadSched(pid: number, tid: number = pid): ThreadSched {
  const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
  const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  const count = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
  return {
    onCpuMs: (run ?? Number.NaN) / 1e6,
    runqueueWaitMs: (wait ?? Number.NaN) / 1e6,
    voluntary: count('voluntary_ctxt_switches'),
    involuntary: count('nonvoluntary_ctxt_switches'),
  };
}

/** Starts a window over a thread's scheduling; the returned function ends it and gives the differences. */
export function threadSchedWindow(pid: number, tid: number = pid): () => ThreadSched {
  const a = threadSched(pid, tid);
  return () => {
    const b = threadSched(pid, tid);
    return {
      onCpuMs: b.onCpuMs - a.onCpuMs,
      runqueueWaitMs: b.runqueueWaitMs - a.runqueueWaitMs,
      voluntary: b.voluntary - a.voluntary,
      involuntary: b.involuntary - a.involuntary,
    };
  };
}
