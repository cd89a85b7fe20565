#!/usr/bin/env bash
# A local certificate authority and a certificate it signs, for trying HTTPS on your
# own machine (browser, curl, the e2e tests):
#
#   scripts/dev-cert.sh [DIR] [NAME...]
#
# DIR (default: certs) receives
#   ca.pem, ca.key         the CA: trust ca.pem in the browser or pass it to
#                          `curl --cacert`; keep ca.key private
#   NAME.pem, NAME.key     the server certificate (leaf then CA: the full chain that
#                          ssl_certificate wants) and its key, named after the first NAME
# NAMEs are DNS names or IP addresses for the certificate (default: localhost,
# 127.0.0.1 and ::1). Keys are ECDSA P-256; the CA is reused if DIR already has one,
# so a browser that trusts it keeps trusting new certificates. Needs only openssl.
#
#   ssl_certificate      certs/localhost.pem;
#   ssl_certificate_key  certs/localhost.key;
set -euo pipefail

dir=${1:-certs}
shift || true
if [ "$#" -eq 0 ]; then set -- localhost 127.0.0.1 ::1; fi
command -v openssl >/dev/null 2>&1 || { echo "error: dev-cert.sh needs openssl" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ] || [ ! -f ca.key ]; then
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.pem -days 825 -subj "/CN=webserv development CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

name=$1
san=""
for n in "$@"; do
    if [[ "$n" =~ ^[0-9.]+$ || "$n" == *:* ]]; then kind=IP; else kind=DNS; fi
    san="${san:+$san,}$kind:$n"
done

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
printf '%s\n' "subjectAltName=$san" "basicConstraints=CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > "$name.ext"
# 397 days: what browsers accept for a server certificate.
openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 397 -extfile "$name.ext" -out "$name.leaf.pem" 2>/dev/null
cat "$name.leaf.pem" ca.pem > "$name.pem"
rm -f "$name.csr" "$name.ext" "$name.leaf.pem" ca.srl
chmod 644 ca.pem "$name.pem"
echo "$dir/$name.pem and $dir/$name.key for $san, signed by $dir/ca.pem"
