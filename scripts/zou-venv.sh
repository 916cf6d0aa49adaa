#!/usr/bin/env bash
# Installs zou (the Kitsu API server) into its own virtualenv .venv-zou in the repository root, for the
# Kitsu integration tests only. zou pins its own Flask/SQLAlchemy/etc., which would clash with ours.
# Idempotent: a stamp file records the zou version installed; rerunning with the same version does nothing.
#   scripts/zou-venv.sh            install (or keep) the pinned version
#   ZOU_VERSION=x.y.z scripts/zou-venv.sh   another version
# Skipped (exit 0, one line) when RUSHES_TEST_KITSU=off.
set -euo pipefail
cd "$(dirname "$0")/.."
ZOU_VERSION="${ZOU_VERSION:-1.0.97}"
VENV=.venv-zou
STAMP="$VENV/.installed-zou-$ZOU_VERSION"
if [ "${RUSHES_TEST_KITSU:-}" = off ]; then
  echo "zou-venv: RUSHES_TEST_KITSU=off, not installing zou"
  exit 0
fi
[ -f "$STAMP" ] && exit 0
PYTHON="${ZOU_PYTHON:-${PYTHON:-python3}}"
echo "zou-venv: installing zou==$ZOU_VERSION into $VENV (once; takes a minute or two)"
rm -f "$VENV"/.installed-zou-*
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "zou==$ZOU_VERSION"
SECRET_KEY=zou-venv-check "$VENV/bin/python" -c "import zou.app.config" >/dev/null
touch "$STAMP"
echo "zou-venv: zou $ZOU_VERSION ready in $VENV"
