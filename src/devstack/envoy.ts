/** Runs the real Envoy binary on a rendered config, on loopback, and talks to its admin API. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startChild, type Child } from './process.ts';
import { envoyBin, ROOT } from './tools.ts';
import { freePort, waitFor } from './ports.ts';

/** Replaces every ${NAME} in a template; a parameter without a value is an error. */
export function renderTemplate(text: string, params: Readonly<Record<string, string | number>>): string {
  const missing = new Set<string>();
  const out = text.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) {
      missing.add(name);
      return '';
    }
    return String(v);
  });
  if (missing.size > 0) throw new Error(`template parameters without a value: ${[...missing].join(', ')}`);
  return out;
}

export function renderEnvoyConfig(file: string, params: Readonly<Record<string, string | number>>): string {
  return renderTemplate(readFileSync(path.resolve(ROOT, file), 'utf8'), params);
}

export interface EnvoyProcess {
  readonly child: Child;
  readonly adminUrl: string;
  readonly configFile: string;
  admin(pathAndQuery: string): Promise<string>;
  /** Health of each host of a cluster, from the admin API (e.g. ['HEALTHY']). */
  clusterHealth(cluster: string): Promise<string[]>;
  stop(): Promise<number | string>;
}

export async function startEnvoy(opts: { configText: string; workDir: string; adminPort: number; name?: string }): Promise<EnvoyProcess> {
  const name = opts.name ?? 'envoy';
  const configFile = path.join(opts.workDir, `${name}.yaml`);
  writeFileSync(configFile, opts.configText);
  const child = startChild(
    envoyBin(),
    ['-c', configFile, '--concurrency', '1', '--disable-hot-restart', '--log-level', 'info', '--file-flush-interval-msec', '100', '--base-id', String(await freePort())],
    { logFile: path.join(opts.workDir, `${name}.log`) },
  );
  const adminUrl = `http://127.0.0.1:${opts.adminPort}`;
  const admin = async (p: string): Promise<string> => {
    const res = await fetch(`${adminUrl}${p}`);
    return await res.text();
  };
  let exitedEarly: string | undefined;
  void child.exited.then((c) => {
    exitedEarly = `envoy exited (${c}); log: ${child.logFile}`;
  });
  await waitFor('envoy to be ready', async () => {
    if (exitedEarly) throw new Error(exitedEarly);
    const res = await fetch(`${adminUrl}/ready`).catch(() => undefined);
    return res?.status === 200 ? true : undefined;
  }, 20_000).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; log: ${child.logFile}`);
  });
  return {
    child,
    adminUrl,
    configFile,
    admin,
    async clusterHealth(cluster) {
      const data = JSON.parse(await admin('/clusters?format=json')) as {
        cluster_statuses?: { name: string; host_statuses?: { health_status?: Record<string, unknown> }[] }[];
      };
      const c = data.cluster_statuses?.find((s) => s.name === cluster);
      return (c?.host_statuses ?? []).map((h) => {
        const hs = h.health_status ?? {};
        if (hs['failed_active_health_check'] === true) return 'FAILED_ACTIVE_HC';
        return String(hs['eds_health_status'] ?? 'UNKNOWN');
      });
    },
    stop: () => child.stop('SIGTERM'),
  };
}
