# Shared by the project's scripts: installs what is missing and starts local servers.
# Source it; every function prints what it does on stderr.

GARAGE_VERSION=2.5.0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*" >&2; }

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

ensure_garage() {
  if command -v garage >/dev/null && garage --version 2>/dev/null | grep -q "$GARAGE_VERSION"; then return; fi
  say "installing garage $GARAGE_VERSION from crates.io (about 7 minutes on 2 cores)"
  cargo install garage --locked --version "$GARAGE_VERSION" >&2
}

ensure_cargo_lambda() {
  if command -v cargo-lambda >/dev/null; then return; fi
  say "installing cargo-lambda"
  python3 -m pip install --quiet cargo-lambda >&2
}

# Python packages, named as pip takes them; installs only the missing ones.
ensure_python() {
  local missing=()
  for pkg in "$@"; do
    python3 -m pip show --quiet "${pkg%%[*}" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    python3 -m pip install --quiet "${missing[@]}" >&2
  fi
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
  export GARAGE_DEFAULT_ACCESS_KEY="GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  export GARAGE_DEFAULT_SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
  export GARAGE_DEFAULT_BUCKET=${GARAGE_DEFAULT_BUCKET:-res-jobs}
  RUST_LOG=warn garage -c "$GARAGE_CONFIG" server --single-node --default-bucket \
    >"$dir/garage.log" 2>&1 &
  GARAGE_PID=$!
  export GARAGE_PID GARAGE_CONFIG
  local i
  for i in $(seq 1 100); do
    if garage -c "$GARAGE_CONFIG" bucket info "$GARAGE_DEFAULT_BUCKET" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$GARAGE_PID" 2>/dev/null; then cat "$dir/garage.log" >&2; return 1; fi
    sleep 0.2
  done
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
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$DEL_JOB_TEST_MOTO_ENDPOINT/moto-api/')" 2>/dev/null; then
      say "moto serving S3 at $DEL_JOB_TEST_MOTO_ENDPOINT, pid $MOTO_PID"
      return
    fi
    sleep 0.2
  done
  cat "$dir/moto.log" >&2
  return 1
}

moto_stop() {
  if [ -n "${MOTO_PID:-}" ] && kill -0 "$MOTO_PID" 2>/dev/null; then
    kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true
  fi
}
