/**
 * The optional parts of the Envoy templates in envoy/: the lines between a `# <NAME>` and a
 * `# </NAME>` comment line (any indentation), e.g. `# <provider openai>`, `# <tracing>`,
 * `# <access_log>`. The whole file stays valid YAML with every part in it (envsubst renders it as
 * it is); `selectSections` leaves out the parts not kept, and the marker lines of all of them, so
 * that only the parameters of what is kept need a value (scripts/render-gateway.ts).
 */

const OPEN = /^\s*# <([a-z_]+(?: [a-z0-9-]+)?)>\s*$/;
const CLOSE = /^\s*# <\/([a-z_]+(?: [a-z0-9-]+)?)>\s*$/;

/** The names of the optional parts of a template, in order of first appearance. */
export function sectionNames(text: string): string[] {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const m = OPEN.exec(line);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return [...out];
}

/** The template without the parts `keep` says no to; a part not closed, closed twice or nested is an error. */
export function selectSections(text: string, keep: (name: string) => boolean): string {
  const out: string[] = [];
  let open: { name: string; line: number } | undefined;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const o = OPEN.exec(line)?.[1];
    const c = CLOSE.exec(line)?.[1];
    if (o !== undefined) {
      if (open !== undefined) throw new Error(`line ${i + 1}: '# <${o}>' inside '# <${open.name}>' (line ${open.line})`);
      open = { name: o, line: i + 1 };
      return;
    }
    if (c !== undefined) {
      if (open?.name !== c) throw new Error(`line ${i + 1}: '# </${c}>' without its '# <${c}>'`);
      open = undefined;
      return;
    }
    if (open === undefined || keep(open.name)) out.push(line);
  });
  if (open !== undefined) throw new Error(`line ${open.line}: '# <${open.name}>' is never closed`);
  return out.join('\n');
}

export interface GatewayParts {
  /** The providers whose route and cluster are kept (`openai`, `anthropic`, … as in `# <provider NAME>`). */
  readonly providers: readonly string[];
  readonly tracing: boolean;
  readonly accessLog: boolean;
}

/** The providers a template has a part for. */
export function templateProviders(text: string): string[] {
  return sectionNames(text)
    .filter((n) => n.startsWith('provider '))
    .map((n) => n.slice('provider '.length));
}

/** The gateway template with the providers, the tracing and the access log asked for; an unknown provider is an error. */
export function selectGatewayParts(text: string, parts: GatewayParts): string {
  const known = templateProviders(text);
  const unknown = parts.providers.filter((p) => !known.includes(p));
  if (unknown.length > 0) throw new Error(`unknown provider${unknown.length > 1 ? 's' : ''} ${unknown.map((p) => `'${p}'`).join(', ')} (the template has: ${known.join(', ')})`);
  return selectSections(text, (name) => {
    if (name.startsWith('provider ')) return parts.providers.includes(name.slice('provider '.length));
    if (name === 'tracing') return parts.tracing;
    if (name === 'access_log') return parts.accessLog;
    throw new Error(`the template has an optional part '${name}' that is neither a provider, tracing nor access_log`);
  });
}
