#!/usr/bin/env bash
# The demo of what is built so far: sealrelayctl seals a payload to a fresh
# RSA-2048 key, opens it again, opens an envelope made by Web Crypto and
# verifies an operator-signed agent certificate from the interop vectors.
# Everything happens in a temporary folder that is removed at the end.
set -euo pipefail

BUILD_DIR="${1:?usage: demo.sh BUILD_DIR}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CTL="$BUILD_DIR/app/sealrelayctl"
VECTORS="$ROOT/tests/data/interop-vectors.json"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Prints one value of the vectors file; `./run setup` installs python3.
vector() {
    python3 -c "import json,sys; d=json.load(open('$VECTORS')); print(eval(sys.argv[1]))" "$1"
}

echo "== sealrelay demo: core crypto and sealrelayctl =="
echo "NOTE: the backend, agents and console are not built yet; this demo shows the"
echo "      envelope and statement formats they will exchange."
echo

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/agent.pem" 2>/dev/null
openssl pkey -in "$WORK/agent.pem" -pubout -out "$WORK/agent.pub.pem"
echo "1. A new agent encryption key, fingerprint:"
"$CTL" keys fingerprint --grouped "$WORK/agent.pub.pem"
echo

vector "__import__('base64').b64decode(d['cases'][3]['payload_b64']).decode()" | tr -d '\n' > "$WORK/payload"
echo "2. Sealing a $(wc -c < "$WORK/payload")-byte payload to it (the payload is padded to a size bucket):"
"$CTL" envelope seal --public-key "$WORK/agent.pub.pem" < "$WORK/payload" > "$WORK/envelope.json"
head -c 300 "$WORK/envelope.json"; echo " ..."
echo

echo "3. Opening it with the agent's private key gives the same bytes back:"
"$CTL" envelope open --private-key "$WORK/agent.pem" < "$WORK/envelope.json" | cmp - "$WORK/payload" \
    && echo "   identical"
echo

vector "d['rsa_private_key_pkcs8_pem']" > "$WORK/vector-rsa.pem"
vector "json.dumps(d['cases'][4]['envelope'])" > "$WORK/webcrypto-envelope.json"
echo "4. Opening an envelope that a browser's Web Crypto made:"
"$CTL" envelope open --private-key "$WORK/vector-rsa.pem" < "$WORK/webcrypto-envelope.json" | head -c 120
echo " ..."
echo

vector "d['operator_public_key_b64']" > "$WORK/trusted-operators"
vector "json.dumps({'statement_b64': d['cases'][0]['statement_b64'], 'signature': d['cases'][0]['signature']})" \
    > "$WORK/certificate.json"
echo "5. Verifying an operator-signed agent certificate against the trusted operator key:"
"$CTL" statement verify --context agent-certificate --trusted-keys "$WORK/trusted-operators" \
    < "$WORK/certificate.json"
echo

echo "Try it yourself: $CTL --help"
