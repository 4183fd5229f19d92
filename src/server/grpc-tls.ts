/**
 * gRPC server credentials on files that are re-read when they change: a server certificate and
 * key, and optionally a client CA (then every client must present a certificate chaining to it:
 * mTLS). Built on grpc-js's certificate-provider credentials (the mechanism its xDS support
 * uses to rotate certificates on a listening server), fed by watchTlsFiles, which only passes
 * on a set that Node accepts (so a half-written rotation never leaves the listener without a
 * certificate).
 */
import * as grpc from '@grpc/grpc-js';
import type { WatchedTls } from './tls-files.ts';

type Provider = grpc.experimental.CertificateProvider;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;
type CaListener = grpc.experimental.CaCertificateUpdateListener;

function provider(tls: WatchedTls): Provider {
  const identity = new Set<IdentityListener>();
  const ca = new Set<CaListener>();
  tls.onChange((m) => {
    for (const l of identity) l({ certificate: m.cert, privateKey: m.key });
    if (m.ca !== undefined) for (const l of ca) l({ caCertificate: m.ca });
  });
  return {
    // grpc-js registers its own watcher right after adding these listeners: the first update
    // must come on a later tick, as its FileWatcherCertificateProvider does.
    addIdentityCertificateListener(l) {
      identity.add(l);
      const m = tls.current();
      process.nextTick(l, { certificate: m.cert, privateKey: m.key });
    },
    removeIdentityCertificateListener(l) {
      identity.delete(l);
    },
    addCaCertificateListener(l) {
      ca.add(l);
      const m = tls.current();
      if (m.ca !== undefined) process.nextTick(l, { caCertificate: m.ca });
    },
    removeCaCertificateListener(l) {
      ca.delete(l);
    },
  };
}

export function watchedServerCredentials(tls: WatchedTls): grpc.ServerCredentials {
  const p = provider(tls);
  const mtls = tls.current().ca !== undefined;
  // grpc-js 1.14 passes this function's first argument to the credentials as the identity
  // provider and its second as the (optional) CA provider, whatever the .d.ts names say.
  return grpc.experimental.createCertificateProviderServerCredentials(p, mtls ? p : null, mtls);
}
