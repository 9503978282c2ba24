#!/usr/bin/env bash
# End to end on the lab: every scan kind through live XDP on the gateway gives the right alert,
# benign traffic none, and with --block the scanner's packets drop (scripts/demo --check).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root
root=$(cd "$here/../.." && pwd)
BUILD_DIR=${1:?usage: lab_e2e_test.sh BUILD_DIR} DEMO_SKIP_BUILD=1 bash "$root/scripts/demo" --check
