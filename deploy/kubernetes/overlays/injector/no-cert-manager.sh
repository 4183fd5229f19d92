#!/usr/bin/env bash
# Installs the injector on a cluster without cert-manager: makes a CA and the webhook's serving
# certificate with openssl (EC P-256; the CA for 10 years, the certificate for 1), stores them in
# the Secret llm-authz-injector-tls, and applies this overlay without its cert-manager objects and
# with the CA in the webhook's caBundle. Run it again to renew (the webhook re-reads the Secret).
#   bash deploy/kubernetes/overlays/injector/no-cert-manager.sh   (KUBECTL, KUBECONFIG honoured)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kubectl="${KUBECTL:-kubectl}"
ns=llm-authz-system svc=llm-authz-injector
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
openssl req -x509 -new -key ca.key -subj "/CN=$svc CA" -days 3650 -out ca.crt \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls.key 2>/dev/null
openssl req -new -key tls.key -subj "/CN=$svc.$ns.svc" -out tls.csr
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n' "$svc" "$ns" "$svc" "$ns" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 -extfile tls.ext -out tls.crt 2>/dev/null

ca="$(base64 -w0 < ca.crt)"
cat > kustomization.yaml <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$work" "$here")
patches:
  - patch: |-
      \$patch: delete
      apiVersion: cert-manager.io/v1
      kind: Issuer
      metadata: { name: llm-authz-injector-selfsigned, namespace: $ns }
  - patch: |-
      \$patch: delete
      apiVersion: cert-manager.io/v1
      kind: Certificate
      metadata: { name: llm-authz-injector, namespace: $ns }
  - target: { kind: MutatingWebhookConfiguration, name: llm-authz-injector }
    patch: |-
      - { op: remove, path: /metadata/annotations/cert-manager.io~1inject-ca-from }
      - { op: add, path: /webhooks/0/clientConfig/caBundle, value: "$ca" }
      - { op: add, path: /webhooks/1/clientConfig/caBundle, value: "$ca" }
YAML

"$kubectl" kustomize . > injector.yaml
# The namespace first (the Secret lives in it), then the Secret, then the rest.
"$kubectl" apply -f - <<YAML
apiVersion: v1
kind: Namespace
metadata:
  name: $ns
  labels: { pod-security.kubernetes.io/enforce: restricted }
YAML
"$kubectl" -n "$ns" create secret tls "$svc-tls" --cert=tls.crt --key=tls.key --dry-run=client -o yaml | "$kubectl" apply -f -
"$kubectl" apply -f injector.yaml
echo "injector installed; its CA (also in the webhook's caBundle) expires $(openssl x509 -in ca.crt -noout -enddate | cut -d= -f2)" >&2
