/** Model-name globs (`*` matches any run of characters), compiled once at load. */

export type ModelMatcher = (model: string) => boolean;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function compileModelGlobs(globs: readonly string[]): ModelMatcher {
  const re = new RegExp(`^(?:${globs.map((g) => g.split('*').map(escape).join('.*')).join('|')})$`, 's');
  return (model) => re.test(model);
}
