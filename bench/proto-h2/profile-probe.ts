/**
 * Preloaded into a server under measurement by bench/proto-h2/attribute.ts (`--import`); not part
 * of llm-authz. SIGUSR2 toggles a window over which V8's CPU profiler samples the main thread
 * every PROFILE_PROBE_INTERVAL_US (default 200) microseconds; at the end the profile is written
 * to PROFILE_PROBE_FILE.N and one line goes to stdout:
 *   {"profileProbe": {file, wallMs, monoUs}}
 * wallMs and monoUs are read together at the start: the profile's timestamps are monotonic
 * microseconds, so wall time = wallMs + (t - monoUs) / 1000 (to join them with a load generator's
 * per-request times).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env['PROFILE_PROBE_FILE'] ?? '/tmp/profile-probe.cpuprofile';
const interval = Number(process.env['PROFILE_PROBE_INTERVAL_US'] ?? '200');
const session = new Session();
session.connect();
let running: { wallMs: number; monoUs: number } | undefined;
let windows = 0;

process.on('SIGUSR2', () => {
  if (running === undefined) {
    session.post('Profiler.enable', () => {
      session.post('Profiler.setSamplingInterval', { interval }, () => {
        session.post('Profiler.start', () => {
          running = { wallMs: Date.now(), monoUs: Number(process.hrtime.bigint() / 1000n) };
          process.stdout.write(`${JSON.stringify({ profileProbe: 'started' })}\n`);
        });
      });
    });
    return;
  }
  const at = running;
  running = undefined;
  session.post('Profiler.stop', (err, r) => {
    const out = `${file}.${windows++}`;
    if (err === null) writeFileSync(out, JSON.stringify(r.profile));
    process.stdout.write(`${JSON.stringify({ profileProbe: { file: out, ...at } })}\n`);
  });
});
