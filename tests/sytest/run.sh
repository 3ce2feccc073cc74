#!/usr/bin/env bash
# Runs SyTest (matrix-org/sytest, the compliance suite Synapse and Dendrite are measured
# with) against Citadel, without Docker, and prints the scores per area.
#
#   tests/sytest/run.sh                    # every test (about 25 minutes on 2 cores)
#   tests/sytest/run.sh --subset           # the CI subset (ci-subset.txt)
#   tests/sytest/run.sh tests/31sync/…pl   # chosen SyTest files or directories
#
# SYTEST_DIR   a SyTest checkout (default: ../sytest beside this repository)
# CITADEL_BIN  the citadel binary (default: target/release/citadel, built if missing)
# SYTEST_WORK  where logs and server directories go (default: target/sytest)
#
# SyTest's Perl modules come from Debian (see README.md here); the two Debian lacks
# are stood in for by perl5/ in this directory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
sytest=${SYTEST_DIR:-$root/../sytest}
work=${SYTEST_WORK:-$root/target/sytest}
bin=${CITADEL_BIN:-$root/target/release/citadel}

if [ ! -f "$sytest/run-tests.pl" ]; then
  echo "no SyTest checkout at $sytest: clone matrix-org/sytest there or set SYTEST_DIR" >&2
  exit 2
fi
export PERL5LIB="$here/lib:$here/perl5${PERL5LIB:+:$PERL5LIB}"
if ! perl -e 'use IO::Async 0.69; use Net::Async::HTTP 0.39; use IO::Async::SSL; use Struct::Dumb; use List::UtilsBy; use YAML::XS; use File::Slurper; use Email::Address::XS; use Email::MIME; use Digest::HMAC_SHA1; use Class::Method::Modifiers; use Data::Dump; use DBD::Pg; use Crypt::Ed25519; use Net::Async::HTTP::Server 0.09;' 2>/dev/null; then
  echo "SyTest's Perl modules are missing; install them with:" >&2
  echo "  apt-get install $(cat "$here/debian-packages.txt" | tr '\n' ' ')" >&2
  exit 2
fi
if [ ! -x "$bin" ]; then
  (cd "$root" && cargo build --release -p citadel)
fi

files=()
subset=0
if [ "${1:-}" = "--subset" ]; then
  shift
  subset=1
  while read -r line; do
    case "$line" in ''|'#'*) ;; *) files+=("$line") ;; esac
  done < "$here/ci-subset.txt"
fi
# A directory stands for its test files, in SyTest's (sorted) order.
for arg in "$@"; do
  if [ -d "$sytest/$arg" ]; then
    while read -r file; do files+=("${file#"$sytest"/}"); done \
      < <(find "$sytest/$arg" -name '*.pl' | sort)
  else
    files+=("$arg")
  fi
done

rm -rf "$work"
mkdir -p "$work/server"
log="$work/sytest.log"
status=0
(cd "$sytest" && perl run-tests.pl -I Citadel --citadel-binary "$bin" \
   --exclude-deprecated --room-version 10 --all -O tap \
   --work-directory "$work/server" ${files[@]+"${files[@]}"}) > "$log" 2>&1 || status=$?
python3 "$here/score.py" "$log"
echo "log: $log (SyTest exited $status)"
# The subset must pass in full; a full run reports its scores and is not judged here.
if [ "$subset" = 1 ]; then exit "$status"; fi
