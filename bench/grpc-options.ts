/**
 * grpc-js server options of the benchmark's grpc-js servers (the no-op floor, the worker prototype), as
 * llm-authz's listeners had them before its own transport (src/server/grpc-h2.ts). Channelz (per-call counters for a channelz
 * admin service, which llm-authz does not serve) is off: it adds listeners and bookkeeping to
 * every call.
 */
import type { ServerOptions } from '@grpc/grpc-js';

export const GRPC_SERVER_OPTIONS: ServerOptions = {
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.enable_channelz': 0,
};
