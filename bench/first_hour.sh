#!/bin/bash
# docs/first-fix.md command by command, timed: a fresh clone of this repository to a Version of real footage
# published through the local tracker. Three movies of FOOTAGE (default: the shared footage beside the
# repository) become shots sh010-sh030. Everything goes to a new temporary folder (printed); port 8765 must be
# free (the walkthrough's tracker URL).
#     bash bench/first_hour.sh [FOOTAGE]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
FOOTAGE=${1:-$REPO/../shared/footage}
MOVIES=$(find "$FOOTAGE" \( -name '*.mp4' -o -name '*.mov' \) 2>/dev/null | sort | head -3 || true)
[ -n "$MOVIES" ] || { echo "no .mp4 or .mov movies under $FOOTAGE: give a footage folder"; exit 2; }
WORK=$(mktemp -d /tmp/rushes-first-hour-XXXXXX)
echo "working in $WORK"
SERVE=""
DAEMON=""
stop() { kill $DAEMON $SERVE 2> /dev/null || true; }
trap stop EXIT  # no tracker or daemon is left running, however the walk ends
T0=$(date +%s)
mark() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
mark "1. clone + make venv"
git clone -q "$REPO" "$WORK/rushes" && cd "$WORK/rushes"
make venv > "$WORK/venv.log" 2>&1
. .venv/bin/activate
mark "2. settings"
export RUSHES_HOME=$WORK/home
export RUSHES_TRACKER__KIND=shotgrid
export RUSHES_TRACKER__URL=http://127.0.0.1:8765
export RUSHES_TRACKER__SCRIPT_NAME=rushes
export RUSHES_TRACKER__SCRIPT_KEY=first-fix-key
export RUSHES_TRACKER__POLL_INTERVAL=2
rushes tracker serve > $WORK/serve.log 2>&1 &
SERVE=$!
for i in $(seq 100); do curl -sf http://127.0.0.1:8765/versions > /dev/null && break; sleep 0.2; done
mark "3. footage"
mkdir -p "$WORK/footage"
n=0
for movie in $MOVIES; do
    n=$((n + 1)); cp "$movie" "$WORK/footage/sh0${n}0_1.${movie##*.}"
done
rushes show add MYSHOW --ingest $WORK/footage --name "My show"
rushes ingest $WORK/footage --show MYSHOW
rushes status
mark "4. tracker"
rushes tracker setup
rushes tracker check
mark "5. train"
rushes train --show MYSHOW --budget 3m 2>&1 | tail -25
rushes model list --show MYSHOW
mark "6. daemon + tag"
rushes daemon > $WORK/daemon.log 2>&1 &
DAEMON=$!
python - <<'PY'
import os
import shotgun_api3

sg = shotgun_api3.Shotgun("http://127.0.0.1:8765", "rushes", os.environ["RUSHES_TRACKER__SCRIPT_KEY"])
shot = sg.find_one("Shot", [["code", "is", "sh010"]])
task = sg.find_one("Task", [["entity", "is", shot]])
sg.update("Task", task["id"], {"sg_rushes_fixes": "denoise", "sg_status_list": "fix"})
PY
python - <<'PY'
import os, time
import shotgun_api3
sg = shotgun_api3.Shotgun("http://127.0.0.1:8765", "rushes", os.environ["RUSHES_TRACKER__SCRIPT_KEY"])
deadline = time.monotonic() + 900
while time.monotonic() < deadline:
    v = sg.find("Version", [], ["code", "sg_status_list", "description"])
    if v:
        print(v[0]["code"], v[0]["sg_status_list"]); print(v[0]["description"]); break
    time.sleep(1)
else:
    raise SystemExit("no Version within 15 minutes")
PY
mark "7. a Version in review"
rushes status
stop
wait || true
mark "done"
