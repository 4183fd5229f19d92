/**
 * What a response reader gathers from a model API's response, and nothing else: token counts,
 * the response model and id, finish reasons, the names of the tools the model called (never
 * their arguments), the API's error type. Every list is bounded, every string cut.
 */
import type { Scalar } from './json-stream.ts';

export interface Usage {
  input?: number;
  output?: number;
  cacheRead?: number;
  cacheCreation?: number;
  reasoning?: number;
}

export interface ResponseFacts {
  readonly responseId: string | undefined;
  readonly responseModel: string | undefined;
  /** One per choice / candidate (by index), as the API names them. */
  readonly finishReasons: readonly string[];
  /** Names of the tools the model called, in order (at most MAX_LIST). */
  readonly toolCalls: readonly string[];
  /** How many tool calls there were (also those beyond MAX_LIST). */
  readonly toolCallCount: number;
  readonly usage: Readonly<Usage>;
  /** The API's error type on an error body (`error.type`, Gemini's `error.status`). */
  readonly errorType: string | undefined;
  /** The API's own end was seen: `[DONE]`, `message_stop`, `response.completed`, a finish reason, a whole JSON body. */
  readonly finished: boolean;
}

export const MAX_LIST = 64;
const MAX_STRING = 256;

/** A string value, cut to MAX_STRING, without control characters; undefined for anything else. */
export function text(v: Scalar): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const clean = v.replace(/[\x00-\x1f\x7f]/g, '');
  return clean.length > MAX_STRING ? `${clean.slice(0, MAX_STRING)}…` : clean;
}

/** A token count: a non-negative safe integer. */
export function count(v: Scalar): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** Collects facts as a reader finds them. */
export class FactsBuilder {
  responseId: string | undefined;
  responseModel: string | undefined;
  readonly #finish = new Map<number, string>();
  readonly #tools: string[] = [];
  #toolCount = 0;
  readonly usage: Usage = {};
  errorType: string | undefined;
  finished = false;

  id(v: Scalar): void {
    this.responseId = text(v) ?? this.responseId;
  }

  model(v: Scalar): void {
    this.responseModel = text(v) ?? this.responseModel;
  }

  /** The finish reason of choice `index` (the last one given wins). */
  finish(index: number, v: Scalar): void {
    const t = text(v);
    if (t === undefined) return;
    if (this.#finish.has(index) || this.#finish.size < MAX_LIST) this.#finish.set(index, t);
  }

  tool(v: Scalar): void {
    const t = text(v);
    if (t === undefined) return;
    this.#toolCount++;
    if (this.#tools.length < MAX_LIST) this.#tools.push(t);
  }

  tokens(k: keyof Usage, v: Scalar): void {
    const n = count(v);
    if (n !== undefined) this.usage[k] = n;
  }

  error(v: Scalar): void {
    this.errorType = text(v) ?? this.errorType;
  }

  build(): ResponseFacts {
    return {
      responseId: this.responseId,
      responseModel: this.responseModel,
      finishReasons: [...this.#finish.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r),
      toolCalls: [...this.#tools],
      toolCallCount: this.#toolCount,
      usage: { ...this.usage },
      errorType: this.errorType,
      finished: this.finished,
    };
  }
}

/**
 * A model API's response reader: the paths it reads from each JSON document (the JSON body, each
 * element of a top-level array, each SSE event's data) and what they mean.
 */
export interface ResponseReader {
  /** Dot-separated paths, `*` for any array element (see json-stream.ts). */
  readonly fields: readonly string[];
  /** Indices of fields read once per stream (every chunk repeats them). */
  readonly once?: ReadonlySet<number>;
  /** Per response: the state that turns captured values into facts. */
  start(facts: FactsBuilder): DocumentReader;
}

export interface DocumentReader {
  /** A captured value of `fields[field]`; `at`: the indices of its `*` segments. */
  value(field: number, v: Scalar, at: readonly number[]): void;
  /** A document ended; `event`: its SSE event name; `done`: an SSE `data: [DONE]`. */
  end(event: string | undefined, done: boolean): void;
}

/** A reader whose fields are named: `start` gets the name of each captured field; `once` names those read once per stream. */
export function namedReader<K extends string>(
  paths: Readonly<Record<K, string>>,
  start: (facts: FactsBuilder) => { value(name: K, v: Scalar, at: readonly number[]): void; end(event: string | undefined, done: boolean): void },
  once: readonly NoInfer<K>[] = [],
): ResponseReader {
  const names = Object.keys(paths) as K[];
  return {
    fields: names.map((k) => paths[k]),
    once: new Set(once.map((k) => names.indexOf(k))),
    start(facts) {
      const r = start(facts);
      return { value: (field, v, at) => r.value(names[field] as K, v, at), end: (event, done) => r.end(event, done) };
    },
  };
}
