/** Model-name globs (`*` matches any run of characters) of a provider's `models` list. */
import { globMatch } from '../core/glob.ts';

export type ModelMatcher = (model: string) => boolean;

export function compileModelGlobs(globs: readonly string[]): ModelMatcher {
  const patterns = [...globs];
  return (model) => patterns.some((g) => globMatch(g, model));
}
