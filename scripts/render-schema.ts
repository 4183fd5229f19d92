/**
 * The config file's JSON Schema (schema/llm-authz.schema.json), generated from the same schema
 * definition the loader validates with, for editors' YAML language servers:
 *   # yaml-language-server: $schema=https://…/schema/llm-authz.schema.json
 *   node scripts/render-schema.ts      (test/unit/config-schema.test.ts checks it is current)
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from '../src/config/schema.ts';

export const SCHEMA_FILE = 'schema/llm-authz.schema.json';

export function configJsonSchema(): string {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  return `${JSON.stringify({ ...schema, $id: 'llm-authz.schema.json', title: 'llm-authz config' }, null, 2)}\n`;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  writeFileSync(path.join(root, SCHEMA_FILE), configJsonSchema());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
