/**
 * google.protobuf.Struct <-> plain JSON values, in the object shape @grpc/proto-loader
 * produces with `oneofs: true` (each Value carries `kind` naming its set field).
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface ProtoValue {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
}
export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}

const MAX_DEPTH = 32;
const KINDS = ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'] as const;

export function fromProtoStruct(s: unknown, depth = 0): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  if (typeof s !== 'object' || s === null || depth > MAX_DEPTH) return out;
  const fields = (s as ProtoStruct).fields;
  if (typeof fields !== 'object' || fields === null) return out;
  for (const [k, v] of Object.entries(fields)) out[k] = fromProtoValue(v, depth + 1);
  return out;
}

function fromProtoValue(v: unknown, depth: number): JsonValue {
  if (typeof v !== 'object' || v === null || depth > MAX_DEPTH) return null;
  const pv = v as ProtoValue;
  // proto-loader (oneofs: true) names the set field in `kind`; a hand-built Value may not.
  const kind = pv.kind ?? KINDS.find((k) => pv[k] !== undefined);
  switch (kind) {
    case 'numberValue':
      return typeof pv.numberValue === 'number' ? pv.numberValue : null;
    case 'stringValue':
      return typeof pv.stringValue === 'string' ? pv.stringValue : null;
    case 'boolValue':
      return pv.boolValue === true;
    case 'structValue':
      return fromProtoStruct(pv.structValue, depth + 1);
    case 'listValue':
      return Array.isArray(pv.listValue?.values) ? pv.listValue.values.map((x) => fromProtoValue(x, depth + 1)) : [];
    default:
      return null;
  }
}

export function toProtoStruct(obj: Readonly<Record<string, JsonValue | undefined>>): ProtoStruct {
  const fields: Record<string, ProtoValue> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) fields[k] = toProtoValue(v);
  }
  return { fields };
}

/**
 * A Struct kept as the JSON object it holds (an undefined value is no field). The CheckResponse
 * encoder writes it from the JSON as it is (response-encoder.ts); `fields`, the proto-loader
 * shape, is built only when something reads it (tests, proto-loader's own serializer). Built
 * per Check, the proto-loader shape of the Check's metadata was 1.5 to 2 KiB of objects that
 * only the encoder read (bench/alloc.ts).
 */
export class JsonStruct implements ProtoStruct {
  readonly json: Readonly<Record<string, JsonValue | undefined>>;
  #fields: Record<string, ProtoValue> | undefined;
  constructor(json: Readonly<Record<string, JsonValue | undefined>>) {
    this.json = json;
  }
  get fields(): Record<string, ProtoValue> {
    this.#fields ??= toProtoStruct(this.json).fields ?? {};
    return this.#fields;
  }
  toJSON(): ProtoStruct {
    return { fields: this.fields };
  }
}

function toProtoValue(v: JsonValue): ProtoValue {
  if (v === null) return { nullValue: 0 }; // NULL_VALUE
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toProtoValue) } };
  return { structValue: toProtoStruct(v) };
}
