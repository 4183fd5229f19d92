/**
 * Watching a policy folder: cases no unit test decided. An engine that does not watch never starts
 * (not even after a reload by signal); `close()` cancels a reload already pending and stays closed
 * through a later reload; an unchanged folder is not reloaded; while the folder is missing no
 * reload is tried until it is back. A second, watching engine on the same folder is the witness
 * that the folder's change events were delivered; the absence checks then wait a bounded margin
 * past the debounce.
 */
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../devstack/ports.ts';
import { createPolicyEngine, type PolicyEngine } from '../../src/policy/engine.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';

const providers = unitProviders();
const rules = (id: string) => `rules:\n  - {id: ${id}, effect: allow, when: "true"}\n`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function engineOn(dir: string, watch: boolean, debounceMs = 50): PolicyEngine {
  return createPolicyEngine({ dir, providers, watch, debounceMs });
}

describe('watching', () => {
  it('an engine that does not watch reads no change by itself, also after a reload', async () => {
    const p = policyDir();
    p.write({ 'a.yaml': rules('one') });
    const still = engineOn(p.dir, false);
    const witness = engineOn(p.dir, true);
    try {
      p.write({ 'a.yaml': rules('two') });
      await waitFor('the witness to reload', () => (witness.status().reloads >= 1 ? true : undefined), 5000);
      await sleep(300);
      expect(still.status()).toMatchObject({ reloads: 0, rules: 1 });

      expect(still.reload().ok).toBe(true);
      const seen = witness.status().reloads;
      p.write({ 'a.yaml': `${rules('three')}  - {id: four, effect: allow, when: "false"}\n` });
      await waitFor('the witness to reload again', () => (witness.status().reloads > seen ? true : undefined), 5000);
      await sleep(300);
      expect(still.status()).toMatchObject({ reloads: 1, rules: 1 });
    } finally {
      still.close();
      witness.close();
    }
  });

  it('close() cancels a reload already pending, and a later reload does not watch again', async () => {
    const p = policyDir();
    p.write({ 'a.yaml': rules('one') });
    const closing = engineOn(p.dir, true, 400);
    const witness = engineOn(p.dir, true, 0);
    const reloads: boolean[] = [];
    closing.onReload((o) => reloads.push(o.ok));
    try {
      p.write({ 'a.yaml': rules('two') });
      await waitFor('the witness to reload', () => (witness.status().reloads >= 1 ? true : undefined), 5000);
      closing.close();
      await sleep(700);
      expect(reloads).toEqual([]);
      expect(closing.status().reloads).toBe(0);

      // A reload asked for after close() (a late signal) does not start watching again.
      expect(closing.reload().ok).toBe(true);
      const seen = witness.status().reloads;
      p.write({ 'a.yaml': rules('three') });
      await waitFor('the witness to reload again', () => (witness.status().reloads > seen ? true : undefined), 5000);
      await sleep(700);
      expect(reloads).toEqual([true]);
    } finally {
      closing.close();
      witness.close();
    }
  });

  it('an unchanged watched folder is not reloaded', async () => {
    const p = policyDir();
    p.write({ 'a.yaml': rules('one') });
    const e = engineOn(p.dir, true);
    try {
      // Past the one-second check for a missing folder.
      await sleep(1500);
      expect(e.status().reloads).toBe(0);
    } finally {
      e.close();
    }
  });

  it('while the folder is missing, no reload is tried; it reloads once the folder is back', async () => {
    const p = policyDir();
    p.write({ 'a.yaml': rules('one') });
    const e = engineOn(p.dir, true, 100);
    try {
      rmSync(p.dir, { recursive: true, force: true });
      await waitFor('the rejected reload', () => (e.status().reloadFailures >= 1 ? true : undefined), 5000);
      await sleep(300);
      const failures = e.status().reloadFailures;
      // Two and a half periods of the one-second check for the folder's return.
      await sleep(2500);
      expect(e.status().reloadFailures).toBe(failures);
      p.write({ 'a.yaml': rules('back') });
      await waitFor('the set to reload by itself', () => (!e.status().lastReloadFailed ? true : undefined), 5000);
      expect(e.status().rules).toBe(1);
    } finally {
      e.close();
    }
  });
});
