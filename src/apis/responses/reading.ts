/**
 * Reading one response body with an API's reader, as its bytes pass: JSON (one document, or a
 * top-level array of documents) or server-sent events (one document per event), by the
 * response's content type. Memory is bounded per response whatever the body's size (see
 * json-stream.ts and sse.ts); a body that is not JSON or SSE is counted, not read.
 */
import { fieldTree, JsonStream, type FieldNode } from './json-stream.ts';
import { FactsBuilder, type DocumentReader, type ResponseFacts, type ResponseReader } from './facts.ts';
import { SseStream } from './sse.ts';
import { EventStream } from './event-stream.ts';

/**
 * `ok`: read to its end; `malformed`: not valid JSON (or an SSE event's data is not);
 * `truncated`: the body ended inside a document, or a stream ended without the API's end
 * marker; `not_read`: no reader for this endpoint or content type.
 */
export type ReadStatus = 'ok' | 'malformed' | 'truncated' | 'not_read';
export type BodyFormat = 'json' | 'sse' | 'eventstream' | 'other';

export interface ReadResult {
  readonly status: ReadStatus;
  readonly facts: ResponseFacts;
}

export interface ResponseReading {
  readonly format: BodyFormat;
  write(b: Uint8Array): void;
  /** The body ended (or was cut off: the reader then says truncated unless it was malformed). */
  end(): ReadResult;
}

const TREES = new WeakMap<ResponseReader, FieldNode>();

function treeOf(r: ResponseReader): FieldNode {
  let t = TREES.get(r);
  if (t === undefined) {
    t = fieldTree(r.fields);
    TREES.set(r, t);
  }
  return t;
}

/** The format of a body from its content type (parameters and case ignored). */
export function bodyFormat(contentType: string | undefined): BodyFormat {
  const media = ((contentType ?? '').split(';', 1)[0] ?? '').trim().toLowerCase();
  if (media === 'text/event-stream') return 'sse';
  if (media === 'application/vnd.amazon.eventstream') return 'eventstream';
  if (media === 'application/json' || media.endsWith('+json')) return 'json';
  return 'other';
}

function notRead(): ResponseReading {
  const facts = new FactsBuilder().build();
  return { format: 'other', write() {}, end: () => ({ status: 'not_read', facts }) };
}

export function startReading(reader: ResponseReader | undefined, contentType: string | undefined): ResponseReading {
  const format = bodyFormat(contentType);
  if (reader === undefined || format === 'other') return { ...notRead(), format };
  const facts = new FactsBuilder();
  const doc: DocumentReader = reader.start(facts);
  let status: ReadStatus = 'ok';
  const worst = (s: ReadStatus): void => {
    if (status === 'ok' || (status === 'truncated' && s === 'malformed')) status = s;
  };
  if (format === 'json') {
    const json = new JsonStream(treeOf(reader), doc, { arrayOfDocuments: true, onDocument: () => doc.end(undefined, false), ...(reader.once ? { once: reader.once } : {}) });
    return {
      format,
      write: (b) => json.write(b),
      end() {
        const s = json.state();
        if (s === 'complete') facts.finished = true;
        else worst(s === 'malformed' ? 'malformed' : 'truncated');
        return { status, facts: facts.build() };
      },
    };
  }
  if (format === 'eventstream') return readEventStream(treeOf(reader), reader, doc, facts, worst, () => status);
  const json = new JsonStream(treeOf(reader), doc, reader.once ? { once: reader.once } : {});
  /** The state of the event that ends; the stream's end reports a cut event as truncated. */
  let atEnd = false;
  const sse = new SseStream({
    data: (b, from, to) => json.write(b, from, to),
    event(name, done) {
      const s = json.state();
      if (s === 'malformed') worst('malformed');
      else if (s === 'incomplete') worst(atEnd ? 'truncated' : 'malformed');
      doc.end(name, done);
      json.reset();
    },
  });
  return {
    format,
    write: (b) => sse.write(b),
    end() {
      atEnd = true;
      sse.end();
      if (!facts.finished) worst('truncated');
      return { status, facts: facts.build() };
    },
  };
}

/**
 * An AWS event stream: each event's JSON document read like an SSE event's data, named by its
 * event type; an exception frame gives the error type and ends the stream as the API's end.
 */
function readEventStream(
  tree: FieldNode,
  reader: ResponseReader,
  doc: DocumentReader,
  facts: FactsBuilder,
  worst: (s: ReadStatus) => void,
  status: () => ReadStatus,
): ResponseReading {
  const json = new JsonStream(tree, doc, reader.once ? { once: reader.once } : {});
  const events = new EventStream({
    document(event, b) {
      json.write(b);
      if (json.state() !== 'complete') worst('malformed');
      doc.end(event, false);
      json.reset();
    },
    exception(type) {
      facts.error(type);
      facts.finished = true;
    },
  });
  return {
    format: 'eventstream',
    write: (b) => events.write(b),
    end() {
      const s = events.state();
      if (s === 'malformed') worst('malformed');
      else if (s === 'incomplete' || !facts.finished) worst('truncated');
      return { status: status(), facts: facts.build() };
    },
  };
}
