#!/usr/bin/env bash
# Regenerates the test-only TLS fixtures of crates/feedwire-tungstenite/tests/tls.rs: a CA (ca.pem; its key is
# thrown away) and a server certificate for 127.0.0.1 and localhost signed by it (server.pem, server.key),
# valid 2020-2120 so that no machine's clock makes the tests fail. The server key is public: tests only.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/db" && : >"$work/db/index.txt" && echo 01 >"$work/db/serial"
sed "s#= db#= $work/db#" ca-sign.cnf >"$work/ca-sign.cnf"
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$work/ca.key"
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out server.key
openssl req -new -key "$work/ca.key" -config ca.cnf -out "$work/ca.csr"
openssl ca -batch -config "$work/ca-sign.cnf" -selfsign -keyfile "$work/ca.key" -in "$work/ca.csr" \
  -startdate 20200101000000Z -enddate 21200101000000Z -extfile ca.cnf -extensions v3_ca -out ca.pem -notext
openssl req -new -key server.key -config leaf.cnf -out "$work/server.csr"
openssl ca -batch -config "$work/ca-sign.cnf" -cert ca.pem -keyfile "$work/ca.key" -in "$work/server.csr" \
  -startdate 20200101000000Z -enddate 21200101000000Z -extfile leaf.cnf -extensions v3_leaf -out server.pem -notext
openssl verify -CAfile ca.pem server.pem
