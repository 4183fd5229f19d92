/**
 * What changes under the soak's load: the policy set reloads every 3 s (a new generation of the
 * same rules; every 30 s a broken file first, rejected, then the good one again), the API key
 * rotates every 20 s (`llm-authz keys rotate`, 10 s overlap), the JWT issuer's signing key
 * rotates every 60 s (the new key published first, the old one withdrawn 30 s later) and tokens
 * are re-signed every 60 s.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { signingKey, signToken } from '../test/helpers/identity.ts';
import { JWT_ISSUER, keysCli, POLICY, printedKey, type SoakWorld } from './setup.ts';

export interface ChurnCounts {
  policyWrites: number;
  brokenPolicyWrites: number;
  keyRotations: number;
  jwksRotations: number;
}

export function startChurn(w: SoakWorld): { counts: ChurnCounts; stop(): void } {
  const counts: ChurnCounts = { policyWrites: 0, brokenPolicyWrites: 0, keyRotations: 0, jwksRotations: 0 };
  const file = path.join(w.policies, '10-rules.yaml');
  const timers: NodeJS.Timeout[] = [];
  let generation = 0;
  timers.push(
    setInterval(() => {
      generation++;
      if (generation % 10 === 0) {
        writeFileSync(file, 'rules:\n  - {id: broken, effect: allow, when: "llm.modell == 1"}\n');
        counts.brokenPolicyWrites++;
        setTimeout(() => writeFileSync(file, POLICY(generation)), 1000).unref();
      } else {
        writeFileSync(file, POLICY(generation));
      }
      counts.policyWrites++;
    }, 3000),
  );
  /** The key store generation llm-authz last logged. */
  const storeGeneration = (): number => {
    let g = 0;
    for (const l of w.stack.authz.logs()) if (l['msg'] === 'key store reloaded' && typeof l['generation'] === 'number') g = Math.max(g, l['generation']);
    return g;
  };
  timers.push(
    setInterval(() => {
      const before = storeGeneration();
      void keysCli(['rotate', '--store', w.store, '--id', w.apiKey.id, '--overlap', '10s']).then((out) => {
        // Clients move to the new key once llm-authz has read the new store (it logs the generation).
        const next = printedKey(out);
        const wait = setInterval(() => {
          if (storeGeneration() <= before) return;
          clearInterval(wait);
          w.apiKey = next;
          counts.keyRotations++;
        }, 100);
        wait.unref();
      });
    }, 20_000),
  );
  timers.push(
    setInterval(() => {
      void (async () => {
        const old = w.signing;
        const next = await signingKey(`soak-${Date.now()}`, 'ES256');
        w.jwks.setKeys([old.publicJwk, next.publicJwk]);
        // Tokens of the new key once the issuer publishes it, past llm-authz's 1 s fetch cool-down.
        await new Promise((r) => setTimeout(r, 2000));
        w.signing = next;
        w.token = await signToken(next, { iss: JWT_ISSUER, aud: 'llm-authz', sub: 'jwt-app' });
        counts.jwksRotations++;
        setTimeout(() => w.jwks.setKeys([next.publicJwk]), 30_000).unref();
      })();
    }, 60_000),
  );
  return {
    counts,
    stop() {
      for (const t of timers) clearInterval(t);
    },
  };
}
