/** The published JSON Schema of the config is generated from the loader's own schema, and current. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, SCHEMA_FILE } from '../../scripts/render-schema.ts';
import { API_KINDS } from '../../src/apis/index.ts';

describe('schema/llm-authz.schema.json', () => {
  const published = readFileSync(SCHEMA_FILE, 'utf8');
  it('is current (node scripts/render-schema.ts)', () => {
    expect(published).toBe(configJsonSchema());
  });
  it('is strict like the loader: unknown keys are refused at every level, and documents every section', () => {
    const s = JSON.parse(published) as { additionalProperties: boolean; properties: Record<string, { additionalProperties?: boolean }> };
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties)).toEqual(['server', 'routing', 'credentials', 'providers', 'identity', 'policy', 'quotas', 'log', 'decision_log', 'telemetry']);
    expect(s.properties['server']?.additionalProperties).toBe(false);
    const api = (s.properties['providers'] as unknown as { items: { properties: { api: { enum: string[] } } } }).items.properties.api.enum;
    expect(api).toEqual(API_KINDS);
  });
});
