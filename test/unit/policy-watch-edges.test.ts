/**
 * Watching a policy folder: cases no unit test decided. An engine that does not watch never starts
 * (not even after a reload by signal); `close()` cancels a reload already pending, closes every
 * folder watcher, and a later reload (a late signal) neither reads the folder nor watches again;
 * an unchanged folder is not reloaded; while the folder is missing no reload is tried until it is
 * back. A second, watching engine on the same folder is the witness that the folder's change
 * events were delivered; the absence checks then wait a bounded margin past the debounce. The
 * folder watchers open in this file are counted through `node:fs`'s `watch`.
 */
import { rmSync, type FSWatcher } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../devstack/ports.ts';
import { createPolicyEngine, type PolicyEngine } from '../../src/policy/engine.ts';
import { policyDir, unitProviders } from '../helpers/policies.ts';

/** The folder watchers open now (fs.watch, passed through; removed when closed). */
const openWatchers = vi.hoisted(() => new Set<unknown>());
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const watch = (...args: Parameters<typeof fs.watch>): FSWatcher => {
    const w = fs.watch(...args);
    openWatchers.add(w);
    // Counted as closed when close() is called (its 'close' event comes a tick later).
    const close = w.close.bind(w);
    w.close = () => {
      openWatchers.delete(w);
      close();
    };
    return w;
  };
  return { ...fs, default: { ...fs, watch }, watch };
});

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

  it('close() cancels a reload already pending, closes its watchers, and a later reload neither reads nor watches', async () => {
    const p = policyDir();
    p.write({ 'a.yaml': rules('one') });
    const closing = engineOn(p.dir, true, 400);
    const watching = openWatchers.size;
    const witness = engineOn(p.dir, true, 0);
    const reloads: boolean[] = [];
    closing.onReload((o) => reloads.push(o.ok));
    try {
      expect(watching).toBeGreaterThanOrEqual(1);
      expect(openWatchers.size).toBe(watching + 1);
      p.write({ 'a.yaml': rules('two') });
      await waitFor('the witness to reload', () => (witness.status().reloads >= 1 ? true : undefined), 5000);
      closing.close();
      // The witness's watcher alone is left.
      expect(openWatchers.size).toBe(watching);
      await sleep(700);
      expect(reloads).toEqual([]);
      expect(closing.status().reloads).toBe(0);

      // A reload asked for after close() (a late signal) is refused: the folder is not read, no
      // listener hears of it, and no watcher opens again.
      expect(closing.reload()).toEqual({ ok: false, version: closing.status().version, shadowVersion: undefined, problems: ['the policy engine is closed'] });
      expect(openWatchers.size).toBe(watching);
      expect(closing.status()).toMatchObject({ reloads: 0, reloadFailures: 0, lastReloadFailed: false, rules: 1 });
      const seen = witness.status().reloads;
      p.write({ 'a.yaml': rules('three') });
      await waitFor('the witness to reload again', () => (witness.status().reloads > seen ? true : undefined), 5000);
      await sleep(700);
      expect(reloads).toEqual([]);
      expect(closing.status().reloads).toBe(0);
    } finally {
      closing.close();
      witness.close();
    }
    expect(openWatchers.size).toBe(watching - 1);
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
