#!/usr/bin/env bash
# Records which functions Citadel runs from start to idle and writes them, in their
# current order in the binary, to server/startup.order, which release builds hand to the
# linker so that this code lies together (see server/build.rs). Re-run it after large
# changes to start-up or to dependencies; a stale list only costs idle memory.
#
#   bench/startup-order.sh
#
# Needs valgrind (callgrind), openssl, curl and python3. Takes about a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=target/startup-order
PORT=${PORT:-18460}
FED_PORT=${FED_PORT:-18461}
rm -rf "$WORK" && mkdir -p "$WORK/data"
bench/test-ca.sh "$PWD/$WORK/tls"
cargo build --release -p citadel
BIN=target/release/citadel

# The configuration the side-by-side benchmark measures idle memory with: client API,
# TLS federation listener, federation on.
cat > "$WORK/citadel.toml" <<TOML
server_name = "127.0.0.1:$FED_PORT"
data_dir = "$PWD/$WORK/data"
log = "warn"
[http]
bind = ["127.0.0.1:$PORT"]
[tls]
bind = "127.0.0.1:$FED_PORT"
certificate = "$PWD/$WORK/tls/leaf.pem"
private_key = "$PWD/$WORK/tls/leaf.key"
[registration]
shared_secret = "startup-order-secret-0123456789"
[federation]
extra_ca_certificates = ["$PWD/$WORK/tls/ca.pem"]
TOML

valgrind --tool=callgrind --demangle=no --callgrind-out-file="$WORK/callgrind.out" \
  "$BIN" --config "$WORK/citadel.toml" 2>"$WORK/valgrind.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/_matrix/client/versions" >/dev/null 2>&1 && break
  sleep 0.5
done
sleep 3 # idle: timers and background tasks run
curl -fsS "http://127.0.0.1:$PORT/_matrix/client/versions" >/dev/null
sleep 3
kill -TERM $SERVER
wait $SERVER || true

python3 - "$BIN" "$WORK/callgrind.out" server/startup.order <<'PY'
import re, subprocess, sys
binary, profile, out = sys.argv[1:]
# callgrind names a function once, "fn=(id) name" or "cfn=(id) name", then by id alone;
# a function with costs of its own appears on an "fn=" line.
names, executed = {}, set()
for line in open(profile):
    m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
    if m:
        if m.group(3):
            names[m.group(2)] = m.group(3)
        if m.group(1) == "fn":
            executed.add(m.group(2))
address = {}
for line in subprocess.run(["nm", "--defined-only", binary], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tTwW":
        address[parts[2]] = int(parts[0], 16)
symbols = sorted({names[i] for i in executed if names.get(i) in address}, key=address.get)
with open(out, "w") as f:
    f.write("\n".join(symbols) + "\n")
print(f"{len(symbols)} functions written to {out}")
PY
