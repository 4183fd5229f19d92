/**
 * The requests every ext_authz server under test must decide as llm-authz does before it is
 * measured: the benchmark request allowed (JWT and API key), and out-of-scope variants denied
 * (one per kind of condition), so a peer whose configuration allows everything cannot pass.
 */
import { checkRequest } from '../devstack/grpc-client.ts';
import { BENCH_KEY } from './setup.ts';

export interface DecisionCase {
  readonly name: string;
  readonly request: Record<string, unknown>;
  readonly allow: boolean;
}

function chat(bearer: string, fields: Record<string, unknown>): Record<string, unknown> {
  const body = { model: 'gpt-4o-mini', max_tokens: 256, stream: false, messages: [{ role: 'user', content: 'hello' }], ...fields };
  return checkRequest({
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', 'x-request-id': 'bench-case' },
    body: JSON.stringify(body),
  });
}

export function decisionCases(jwt: string): DecisionCase[] {
  const tool = (name: string): unknown => ({ type: 'function', function: { name, parameters: { type: 'object' } } });
  return [
    { name: 'JWT, allowed model', request: chat(jwt, {}), allow: true },
    { name: 'API key, allowed model', request: chat(BENCH_KEY, { model: 'gpt-4.1-mini' }), allow: true },
    { name: 'JWT, a model outside the workload allowlist', request: chat(jwt, { model: 'gpt-4o' }), allow: false },
    { name: 'API key, a model outside the key scope', request: chat(BENCH_KEY, { model: 'o3-mini' }), allow: false },
    { name: 'JWT, the shell_exec tool', request: chat(jwt, { tools: [tool('lookup'), tool('shell_exec')] }), allow: false },
    { name: 'JWT, max_tokens over 4096', request: chat(jwt, { max_tokens: 8192 }), allow: false },
    { name: 'an unknown API key', request: chat('lla_bench001_wrongwrongwrongwrongwrongwrong01', {}), allow: false },
    { name: 'a JWT with a broken signature', request: chat(`${jwt.slice(0, -4)}AAAA`, {}), allow: false },
  ];
}
