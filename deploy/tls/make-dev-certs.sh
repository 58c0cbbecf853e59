#!/usr/bin/env bash
# Writes a development certificate authority and certificates for Stoa into
# DIR (created if missing), with openssl:
#   ca.crt, ca.key              the development CA (keep ca.key private)
#   gateway.crt, gateway.key    server and client authentication: the gateway
#                               serves HTTPS with it and presents it to executors
#   executor.crt, executor.key  server authentication: an executor's gRPC port
#   device.crt, device.key      client authentication: a device (CN "device")
# Server certificates are valid for localhost, 127.0.0.1 and ::1 plus every
# NAME given (a DNS name, or an IP address). Keys are ECDSA P-256.
#
#   deploy/tls/make-dev-certs.sh DIR [NAME...]
#
# An existing ca.crt/ca.key in DIR is reused (certificates issued before stay
# trusted); the leaf certificates are written anew. Environment: STOA_CERT_DAYS
# (validity of the leaf certificates, default 825), STOA_CA_DAYS (3650).
# For development and tests only: production certificates come from your PKI.
set -euo pipefail

if [[ $# -lt 1 || "$1" == -h || "$1" == --help ]]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  [[ $# -ge 1 ]] && exit 0 || exit 2
fi
dir=$1; shift
command -v openssl >/dev/null || { echo "make-dev-certs: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
umask 077
days=${STOA_CERT_DAYS:-825}
ca_days=${STOA_CA_DAYS:-3650}

# The subjectAltName list: localhost, loopback and the names given.
san="DNS:localhost,IP:127.0.0.1,IP:::1"
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then
    san+=",IP:$name"
  elif [[ "$name" =~ ^[A-Za-z0-9*]([A-Za-z0-9.*-]*[A-Za-z0-9])?$ ]]; then
    san+=",DNS:$name"
  else
    echo "make-dev-certs: '$name' is neither a DNS name nor an IP address" >&2
    exit 2
  fi
done

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [[ ! -s "$dir/ca.crt" || ! -s "$dir/ca.key" ]]; then
  key "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$ca_days" \
    -subj "/O=Stoa development/CN=Stoa development CA $(date -u +%Y%m%dT%H%M%S)-$RANDOM" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$dir/ca.crt"
fi

# issue NAME CN EXTENDED_KEY_USAGE WITH_SAN
issue() {
  local name=$1 cn=$2 eku=$3 with_san=$4
  local ext; ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ "$with_san" == yes ]] && echo "subjectAltName=$san"
  } >"$ext"
  key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "/O=Stoa development/CN=$cn" \
    -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -sha256 -days "$days" -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
}

issue gateway gateway "serverAuth,clientAuth" yes
issue executor executor "serverAuth" yes
issue device device "clientAuth" no
rm -f "$dir/ca.srl"
chmod 644 "$dir"/*.crt
echo "make-dev-certs: wrote ca.crt, gateway, executor and device certificates to $dir" \
  "(valid for ${san//,/ })"
