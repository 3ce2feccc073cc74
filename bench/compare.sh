#!/usr/bin/env bash
# Side-by-side benchmark: Citadel (release build) and Synapse (from PyPI, SQLite), both on
# loopback with rate limits lifted, measured by citadel-bench with the same scenarios.
# Both federate over TLS (a throw-away CA made with openssl) so that `federated-join` can
# measure each joining a room hosted on a third server (another Citadel).
#
#   bench/compare.sh [--scale 1.0] [--scenarios register-login,send,...]
#
# Needs python3 and openssl (Synapse is installed into target/bench/synapse-venv on first
# use).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=target/bench
SECRET=bench-shared-secret-0123456789
CITADEL_PORT=${CITADEL_PORT:-18448}
SYNAPSE_PORT=${SYNAPSE_PORT:-18449}
HOST_PORT=${HOST_PORT:-18450}
CITADEL_FED=${CITADEL_FED:-18451}
SYNAPSE_FED=${SYNAPSE_FED:-18452}
HOST_FED=${HOST_FED:-18453}
mkdir -p "$WORK"

# --- A certificate authority and one certificate for 127.0.0.1 -------------------------
TLS=$PWD/$WORK/tls
bench/test-ca.sh "$TLS"

cargo build --release -p citadel -p citadel-bench

# --- Synapse -------------------------------------------------------------------------
if [ ! -x "$WORK/synapse-venv/bin/python" ]; then
  python3 -m venv "$WORK/synapse-venv"
  "$WORK/synapse-venv/bin/pip" install --quiet --disable-pip-version-check matrix-synapse
fi
rm -rf "$WORK/synapse" && mkdir -p "$WORK/synapse"
cat > "$WORK/synapse/homeserver.yaml" <<YAML
server_name: "127.0.0.1:$SYNAPSE_FED"
pid_file: $PWD/$WORK/synapse/homeserver.pid
listeners:
  - port: $SYNAPSE_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
  - port: $SYNAPSE_FED
    bind_addresses: ['127.0.0.1']
    type: http
    tls: true
    resources:
      - names: [federation]
        compress: false
tls_certificate_path: $TLS/leaf.pem
tls_private_key_path: $TLS/leaf.key
federation_custom_ca_list: ["$TLS/ca.pem"]
ip_range_blacklist: []
ip_range_whitelist: ['127.0.0.1']
rc_federation: {window_size: 1000, sleep_limit: 100000, sleep_delay: 1, reject_limit: 100000, concurrent: 1000}
database:
  name: sqlite3
  args:
    database: $PWD/$WORK/synapse/homeserver.db
log_config: $PWD/$WORK/synapse/log.yaml
media_store_path: $PWD/$WORK/synapse/media
registration_shared_secret: "$SECRET"
report_stats: false
macaroon_secret_key: "bench-macaroon-secret"
form_secret: "bench-form-secret"
signing_key_path: $PWD/$WORK/synapse/signing.key
trusted_key_servers: []
suppress_key_server_warning: true
enable_metrics: false
rc_message: {per_second: 100000, burst_count: 100000}
rc_registration: {per_second: 100000, burst_count: 100000}
rc_login:
  address: {per_second: 100000, burst_count: 100000}
  account: {per_second: 100000, burst_count: 100000}
  failed_attempts: {per_second: 100000, burst_count: 100000}
rc_joins:
  local: {per_second: 100000, burst_count: 100000}
  remote: {per_second: 100000, burst_count: 100000}
rc_joins_per_room: {per_second: 100000, burst_count: 100000}
rc_room_creation: {per_second: 100000, burst_count: 100000}
rc_invites:
  per_room: {per_second: 100000, burst_count: 100000}
  per_user: {per_second: 100000, burst_count: 100000}
YAML
cat > "$WORK/synapse/log.yaml" <<YAML
version: 1
root: {level: WARNING, handlers: []}
disable_existing_loggers: false
YAML
"$WORK/synapse-venv/bin/python" -m synapse.app.homeserver --generate-keys -c "$WORK/synapse/homeserver.yaml" >/dev/null
"$WORK/synapse-venv/bin/python" -m synapse.app.homeserver -c "$WORK/synapse/homeserver.yaml" &
SYNAPSE=$!

# --- Citadel, and a second Citadel hosting the rooms of federated-join ------------------
citadel_config() {  # name client-port federation-port
  cat > "$WORK/$1.toml" <<TOML
server_name = "127.0.0.1:$3"
data_dir = "$PWD/$WORK/$1"
log = "warn"
[http]
bind = ["127.0.0.1:$2"]
[tls]
bind = "127.0.0.1:$3"
certificate = "$TLS/leaf.pem"
private_key = "$TLS/leaf.key"
[registration]
shared_secret = "$SECRET"
[rate_limits]
enabled = false
[e2ee]
enforce = "off"
[federation]
extra_ca_certificates = ["$TLS/ca.pem"]
TOML
  rm -rf "$WORK/$1" && mkdir -p "$WORK/$1"
}
citadel_config citadel $CITADEL_PORT $CITADEL_FED
citadel_config host $HOST_PORT $HOST_FED
target/release/citadel --config "$WORK/citadel.toml" &
CITADEL=$!
target/release/citadel --config "$WORK/host.toml" &
HOST=$!
trap 'kill $SYNAPSE $CITADEL $HOST 2>/dev/null || true' EXIT

for port in $CITADEL_PORT $SYNAPSE_PORT $HOST_PORT; do
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
sleep 2  # let both settle before measuring idle memory

target/release/citadel-bench \
  --url "http://127.0.0.1:$CITADEL_PORT" --pid "$CITADEL" \
  --compare "http://127.0.0.1:$SYNAPSE_PORT" --compare-pid "$SYNAPSE" \
  --shared-secret "$SECRET" \
  --host-url "http://127.0.0.1:$HOST_PORT" --host-name "127.0.0.1:$HOST_FED" "$@"
