/** The policy phase: builds the decider for a config. */
import type { BuildContext } from '../config/runtime.ts';
import type { Config } from '../config/schema.ts';
import type { Providers } from '../providers/runtime.ts';
import { createScopedRule } from './scoped-rule.ts';
import type { Decide } from './types.ts';

export function createDecider(_config: Config, ctx: BuildContext, providers: Providers): Decide {
  return createScopedRule(providers, ctx.version);
}

export type { Decide, Decision, DecisionInput, Obligations, ShadowResult } from './types.ts';
