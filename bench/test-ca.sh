#!/usr/bin/env bash
# Makes a throw-away certificate authority and one certificate for 127.0.0.1 in DIR:
# ca.pem (the CA to trust), leaf.pem and leaf.key (the server's). Needs openssl.
#
#   bench/test-ca.sh DIR
set -euo pipefail
TLS=$1
rm -rf "$TLS" && mkdir -p "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=citadel-bench CA" -keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=127.0.0.1" -keyout "$TLS/leaf.key" -out "$TLS/leaf.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\nauthorityKeyIdentifier=keyid\n' > "$TLS/leaf.ext"
openssl x509 -req -in "$TLS/leaf.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" -CAcreateserial \
  -days 2 -extfile "$TLS/leaf.ext" -out "$TLS/leaf.pem" 2>/dev/null
