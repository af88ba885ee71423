#!/usr/bin/env bash
# Makes a throwaway CA and a server certificate it signed, for the wss://
# suites (Autobahn, interop, the browser): nothing secret is committed.
#
# Usage: scripts/tls_pki.sh DIR
#
# Writes, in DIR:
#   ca.pem, ca.key          the CA (EC P-256, 2 days)
#   server.pem, server.key  the server's certificate (localhost, 127.0.0.1
#                           and ::1) and its key (PKCS#8)
#   server.spki             base64 SHA-256 of the server's public key, for
#                           Chromium's --ignore-certificate-errors-spki-list
# An existing, complete DIR is reused.
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"
if [[ -s ca.pem && -s server.pem && -s server.key && -s server.spki ]] &&
    openssl x509 -checkend 3600 -noout -in server.pem >/dev/null 2>&1; then
    exit 0
fi
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ec ca.key
openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=rusty_socket test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out ca.pem 2>/dev/null
ec server.key.ec
openssl pkcs8 -topk8 -nocrypt -in server.key.ec -out server.key
rm -f server.key.ec
openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
cat >server.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile server.ext -out server.pem 2>/dev/null
rm -f server.csr server.ext ca.srl
openssl x509 -in server.pem -pubkey -noout |
    openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64 >server.spki
echo "[tls_pki] CA and server certificate in $dir"
