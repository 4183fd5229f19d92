#!/usr/bin/env node
// dist/bundle/: the CLI as one minified module per command (scripts/bundle.ts, built by `npm run build`).
import { main } from '../dist/bundle/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`llm-authz: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
