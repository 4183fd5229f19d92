/**
 * Preloaded into the llm-authz under measurement by bench/old-gen.ts (`--import`); not part of
 * llm-authz. SIGUSR2 starts V8's sampling heap profiler keeping only what reaches the old
 * generation (objects a full collection reclaims, and those still alive; not those a scavenge
 * reclaims); the next SIGUSR2 runs a full collection, stops the profiler and writes its profile as
 * JSON to the file in OLD_GEN_PROBE_OUT.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const out = process.env.OLD_GEN_PROBE_OUT;
const session = new Session();
session.connect();
const post = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> =>
  new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));

let sampling = false;
process.on('SIGUSR2', () => {
  const step = async (): Promise<void> => {
    if (!sampling) {
      sampling = true;
      await post('HeapProfiler.enable');
      await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
      return;
    }
    sampling = false;
    await post('HeapProfiler.collectGarbage');
    const { profile } = await post<{ profile: unknown }>('HeapProfiler.stopSampling');
    if (out) writeFileSync(out, JSON.stringify(profile));
  };
  step().catch((err: unknown) => process.stderr.write(`old-gen-probe: ${err instanceof Error ? err.message : String(err)}\n`));
});
