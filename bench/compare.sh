#!/usr/bin/env bash
# Side-by-side benchmark: Citadel (release build) and Synapse (from PyPI, SQLite), both on
# loopback with rate limits lifted, measured by citadel-bench with the same scenarios.
#
#   bench/compare.sh [--scale 1.0] [--scenarios register-login,send,...]
#
# Needs python3 (Synapse is installed into target/bench/synapse-venv on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=target/bench
SECRET=bench-shared-secret-0123456789
CITADEL_PORT=${CITADEL_PORT:-18448}
SYNAPSE_PORT=${SYNAPSE_PORT:-18449}
mkdir -p "$WORK"

cargo build --release -p citadel -p citadel-bench

# --- Synapse -------------------------------------------------------------------------
if [ ! -x "$WORK/synapse-venv/bin/python" ]; then
  python3 -m venv "$WORK/synapse-venv"
  "$WORK/synapse-venv/bin/pip" install --quiet --disable-pip-version-check matrix-synapse
fi
rm -rf "$WORK/synapse" && mkdir -p "$WORK/synapse"
cat > "$WORK/synapse/homeserver.yaml" <<YAML
server_name: "localhost"
pid_file: $PWD/$WORK/synapse/homeserver.pid
listeners:
  - port: $SYNAPSE_PORT
    bind_addresses: ['127.0.0.1']
    type: http
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
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

# --- Citadel -------------------------------------------------------------------------
rm -rf "$WORK/citadel" && mkdir -p "$WORK/citadel"
CITADEL_DATA_DIR="$WORK/citadel" CITADEL_HTTP__BIND="[\"127.0.0.1:$CITADEL_PORT\"]" \
CITADEL_REGISTRATION__SHARED_SECRET="$SECRET" CITADEL_RATE_LIMITS__ENABLED=false \
CITADEL_E2EE__ENFORCE=off CITADEL_LOG=warn \
  target/release/citadel &
CITADEL=$!
trap 'kill $SYNAPSE $CITADEL 2>/dev/null || true' EXIT

for port in $CITADEL_PORT $SYNAPSE_PORT; do
  for _ in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/_matrix/client/versions" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
sleep 2  # let both settle before measuring idle memory

target/release/citadel-bench \
  --url "http://127.0.0.1:$CITADEL_PORT" --pid "$CITADEL" \
  --compare "http://127.0.0.1:$SYNAPSE_PORT" --compare-pid "$SYNAPSE" \
  --shared-secret "$SECRET" "$@"
