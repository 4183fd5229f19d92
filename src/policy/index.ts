/** The policy phase: builds the decider for a config. */
import path from 'node:path';
import type { BuildContext } from '../core/build-context.ts';
import type { Config } from '../config/schema.ts';
import type { Providers } from '../providers/runtime.ts';
import { createPolicyEngine, type PolicyEngine } from './engine.ts';
import { withScopeGuard } from './scope-guard.ts';
import { createScopedRule } from './scoped-rule.ts';
import type { Decide } from './types.ts';

export interface PolicyRuntime {
  readonly decide: Decide;
  /** The CEL policy engine, when the config has a `policy:` section. */
  readonly engine: PolicyEngine | undefined;
}

/**
 * With a `policy:` section, CEL policies decide (loaded and checked now; a problem throws a
 * PolicyLoadError). Without one, the built-in rule decides. In both, the credential scope guard
 * runs first (scope-guard.ts; inside the engine for CEL policies).
 */
export function createPolicy(config: Config, ctx: BuildContext, providers: Providers, opts: { watch?: boolean | undefined; now?: (() => number) | undefined } = {}): PolicyRuntime {
  const p = config.policy;
  if (p === undefined) return { decide: withScopeGuard(createScopedRule(ctx.version), ctx.version), engine: undefined };
  const engine = createPolicyEngine({
    dir: path.resolve(ctx.baseDir, p.dir),
    shadowDir: p.shadow_dir === undefined ? undefined : path.resolve(ctx.baseDir, p.shadow_dir),
    providers,
    reservedHeaders: [config.routing.header],
    watch: opts.watch ?? p.watch,
    now: opts.now,
  });
  return { decide: (input) => engine.decide(input), engine };
}

export type { Decide, Decision, DecisionInput, Obligations, ShadowResult } from './types.ts';
export type { PolicyEngine, PolicyStatus, ReloadOutcome, Explanation } from './engine.ts';
export { PolicyLoadError } from './policy-set.ts';
