#!/usr/bin/env bash
# Set-up and entry point for a fresh machine. Two commands do everything:
#   ./run.sh demo    install (first time only), then run the main job on the embedded default
#   ./run.sh test    install (first time only), then run the whole test suite
# Anything after the verb is passed on (to `reason4rec demo` or to pytest).
# The virtual environment lives in .venv (override with REASON4REC_VENV); installs are idempotent:
# they rerun only when pyproject.toml or this script change.
set -euo pipefail
cd "$(dirname "$0")"

venv="${REASON4REC_VENV:-.venv}"
python="${PYTHON:-python3}"

ensure_env() {
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
        echo "reason4rec needs Python >= 3.10 (found: $("$python" --version 2>&1))" >&2
        exit 1
    fi
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    local stamp="$venv/.reason4rec-install" want
    want="$(cat pyproject.toml run.sh | sha256sum | cut -c1-16)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== installing reason4rec into $venv (first run only; a few minutes) =="
        local pip=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q)
        # torch first and pinned: 2.13.0 is a CPU build; an unpinned torch pulls a multi-GB CUDA one.
        "${pip[@]}" "torch==2.13.0"
        # llama-cpp-python is a source build (llama.cpp, about 6 minutes on 2 cores the first time;
        # pip caches the wheel): only the library, for this machine's CPU. A CMAKE_ARGS of your own
        # (a CUDA build, say) is kept.
        CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF}" \
            CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
            "${pip[@]}" -e ".[test]"
        echo "$want" > "$stamp"
    fi
}

ensure_postgres() {
    # The PostgreSQL tests (review store, chat threads, the deployment doc) start a throwaway server
    # with initdb/pg_ctl. Install Debian's package when it is missing, quietly; if that cannot be
    # done (no apt, no root or sudo, no network) those tests are skipped with the reason.
    if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || return 0
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo -n"
    echo "== installing PostgreSQL for its tests (apt-get install postgresql) ==" >&2
    { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql; } \
        >/dev/null 2>&1 || echo "warning: PostgreSQL could not be installed; its tests will be skipped" >&2
    return 0
}

# No model hub at run time, and no telemetry from onnxruntime (pulled in by chromadb).
export HF_HUB_OFFLINE=1 ORT_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false

verb="${1:-}"
shift || true
case "$verb" in
    demo)
        ensure_env
        exec "$venv/bin/reason4rec" demo "$@"
        ;;
    test)
        ensure_env
        ensure_postgres || true
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    lint)
        # The code's shape: ruff's rules and the import-linter layer contracts (pyproject.toml).
        ensure_env
        "$venv/bin/ruff" check .
        exec "$venv/bin/lint-imports"
        ;;
    *)
        echo "usage: ./run.sh demo | ./run.sh test [pytest args] | ./run.sh lint" >&2
        exit 64
        ;;
esac
