/** Applies RFC 6902 'add' operations (all the injector emits) to a copy of a JSON document. */
export function applyAddPatch<T>(doc: T, ops: readonly { op: string; path: string; value: unknown }[]): T {
  const out = structuredClone(doc) as unknown;
  for (const o of ops) {
    if (o.op !== 'add') throw new Error(`unsupported op ${o.op}`);
    const parts = o.path
      .split('/')
      .slice(1)
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = parts.pop();
    if (last === undefined) throw new Error('empty path');
    let cur = out as Record<string, unknown> | unknown[];
    for (const p of parts) {
      const next = Array.isArray(cur) ? cur[Number(p)] : cur[p];
      if (typeof next !== 'object' || next === null) throw new Error(`path ${o.path}: ${p} does not exist`);
      cur = next as Record<string, unknown> | unknown[];
    }
    if (Array.isArray(cur)) {
      const i = last === '-' ? cur.length : Number(last);
      if (!(i >= 0 && i <= cur.length)) throw new Error(`path ${o.path}: index out of range`);
      cur.splice(i, 0, structuredClone(o.value));
    } else {
      cur[last] = structuredClone(o.value);
    }
  }
  return out as T;
}
