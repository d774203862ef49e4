#!/usr/bin/env bash
# Run ansible-test (sanity or units) without docker: on a copy of the collection at
# .cache/ansible-test/run.*/ansible_collections/opstack/conductor (ansible-test needs that path shape), with the offline
# get-pip stand-in that ansible-test's --venv bootstrap looks for in its cache.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
# A copy per run, so that two runs (sanity and units, or two engineers) never delete each other's tree.
mkdir -p "$repo/.cache/ansible-test"
run_root=$(mktemp -d "$repo/.cache/ansible-test/run.XXXXXX")
chmod 755 "$run_root"  # mktemp makes it 0700: the non-root module runs of the unit tests must read the copy
trap 'rm -rf "$run_root"' EXIT
copy=$run_root/ansible_collections/opstack/conductor

cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
cat > "$cache/get_pip_24_2.py" <<'PY'
# Offline stand-in for get-pip.py: argv[1:] are pip install arguments. ensurepip runs in a subprocess so
# that its PIP_CONFIG_FILE=/dev/null does not hide the machine's pip configuration from the next call.
import subprocess, sys
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PY

mkdir -p "$copy"
(cd "$repo" && git ls-files -co --exclude-standard -z | while IFS= read -r -d '' f; do
  [ -e "$f" ] || continue
  mkdir -p "$copy/$(dirname "$f")"
  cp -p "$f" "$copy/$f"
done)
cd "$copy"
# The copy sits inside our (ignored) .cache: give it its own repository so ansible-test lists its files.
git init -q . && git add -A
export PATH=$venv/bin:$PATH
ansible-test "$@" --venv --python 3.11 --requirements --color no
