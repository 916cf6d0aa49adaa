#!/usr/bin/env bash
# Installs zou (the Kitsu API server) into its own virtualenv .venv-zou in the repository root, for the
# Kitsu integration tests only. zou pins its own Flask/SQLAlchemy/etc., which would clash with ours.
# Idempotent: a stamp file records the zou version installed; rerunning with the same version does nothing.
#   scripts/zou-venv.sh            install (or keep) the pinned version
#   ZOU_VERSION=x.y.z scripts/zou-venv.sh   another version (ZOU_VENV=path: another folder)
# Skipped (exit 0, one line) when RUSHES_TEST_KITSU=off.
set -uo pipefail
cd "$(dirname "$0")/.."
ZOU_VERSION="${ZOU_VERSION:-1.0.97}"
VENV="${ZOU_VENV:-.venv-zou}"
STAMP="$VENV/.installed-zou-$ZOU_VERSION"
if [ "${RUSHES_TEST_KITSU:-}" = off ]; then
  echo "zou-venv: RUSHES_TEST_KITSU=off, not installing zou"
  exit 0
fi
[ -f "$STAMP" ] && exit 0
PYTHON="${ZOU_PYTHON:-${PYTHON:-python3}}"
echo "zou-venv: installing zou==$ZOU_VERSION into $VENV (once; takes a minute or two)"
rm -f "$VENV"/.installed-zou-*
fail() {
  echo "zou-venv: $1; the Kitsu tests will fail until it works (or set RUSHES_TEST_KITSU=off)" >&2
  exit 0 # like system-deps.sh: the tests that need zou report it, the rest still run
}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" || fail "could not create $VENV with $PYTHON"
"$VENV/bin/python" -m pip install --quiet --upgrade pip || fail "could not upgrade pip in $VENV"
"$VENV/bin/python" -m pip install --quiet "zou==$ZOU_VERSION" || fail "pip install zou==$ZOU_VERSION failed"
"$VENV/bin/python" -c "import zou.cli" >/dev/null 2>&1 || fail "zou does not import in $VENV"
touch "$STAMP"
echo "zou-venv: zou $ZOU_VERSION ready in $VENV"
