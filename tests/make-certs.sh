#!/bin/sh
# SPDX-License-Identifier: MIT
# Generates, at test time, a CA and the certificates token_server.py uses:
# a good one for localhost/127.0.0.1, one for the wrong name, a self-signed
# one, and an expired one. Usage: make-certs.sh DIR
set -eu
d=$1
cd "$d"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
leaf() { # name san days
	q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
	printf 'subjectAltName=%s\n' "$2" > "$1.ext"
	q openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out "$1.pem" -days "$3" -extfile "$1.ext"
}
leaf server "DNS:localhost,IP:127.0.0.1,IP:::1" 2
leaf wrongname "DNS:wrong.example" 2
q openssl req -x509 -newkey rsa:2048 -nodes -keyout selfsigned.key -out selfsigned.pem -days 2 \
	-subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
# expired: valid from two days ago to yesterday
q openssl req -newkey rsa:2048 -nodes -keyout expired.key -out expired.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > expired.ext
if ! q openssl x509 -req -in expired.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out expired.pem \
	-not_before "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -not_after "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" -extfile expired.ext; then
	# openssl < 3.4 has no -not_after: use openssl ca, which has -enddate
	mkdir -p ca.db && : > ca.db/index.txt && echo 01 > ca.db/serial
	cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
CNF
	q openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in expired.csr -out expired.pem \
		-startdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" \
		-extfile expired.ext -notext
fi
test -s expired.pem
