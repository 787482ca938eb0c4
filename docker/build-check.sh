#!/usr/bin/env bash
# Replays docker/Dockerfile without a docker engine, so CI proves its steps work:
# in a temp copy of the repository, the build stage (npm ci with devDependencies,
# npm run build, npm prune --omit=dev), then the runtime stage's layout (only
# package*.json, node_modules, dist/, bin/, config/, docker/davcrypt.yaml) started
# with the ENTRYPOINT's node flags (checked equal to `npm start`'s) on a free port
# of 127.0.0.1 until the health path answers. Also checks that the image user owns
# /data before VOLUME, and that a stale dist/ without tsx stops with a message.
# Touches nothing outside its temp folder. Usage: bash docker/build-check.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dockerfile="$repo/docker/Dockerfile"
work="$(mktemp -d "${TMPDIR:-/tmp}/davcrypt-build-check-XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "build-check: FAIL: $*" >&2; exit 1; }
step() { echo "build-check: $*"; }

# 1. The Dockerfile says what we replay: same steps, same flags, volume owned by its user.
grep -q '^RUN npm ci$' "$dockerfile" || fail "build stage must install with devDependencies (RUN npm ci)"
grep -q '^RUN npm run build && npm prune --omit=dev$' "$dockerfile" || fail "build stage must build dist/ and prune devDependencies"
entry_flags="$(sed -n 's/^ENTRYPOINT \["node", \(.*\), "bin\/davcrypt.js"\]$/\1/p' "$dockerfile" | tr -d '", ' )"
start_flags="$(node -p "require('$repo/package.json').scripts.start.match(/node (.*) bin\/davcrypt.js/)[1]" | tr -d ' ')"
[ -n "$entry_flags" ] && [ "$entry_flags" = "$start_flags" ] || fail "ENTRYPOINT node flags ($entry_flags) differ from npm start's ($start_flags)"
chown_line="$(grep -n '^RUN mkdir -p /data && chown node:node /data$' "$dockerfile" | cut -d: -f1)"
volume_line="$(grep -n '^VOLUME \["/data"\]$' "$dockerfile" | cut -d: -f1)"
user_line="$(grep -n '^USER node$' "$dockerfile" | cut -d: -f1)"
[ -n "$chown_line" ] && [ -n "$volume_line" ] && [ -n "$user_line" ] && [ "$chown_line" -lt "$volume_line" ] \
  || fail "/data must be created and chowned to node before VOLUME, and the image must run as USER node"

# 2. Build stage, in a copy holding only what the Dockerfile copies.
build="$work/build"
mkdir -p "$build"
cp "$repo/package.json" "$repo/package-lock.json" "$repo/tsconfig.json" "$repo/tsconfig.build.json" "$build/"
cp -R "$repo/src" "$build/src"
step "npm ci (with devDependencies)"
(cd "$build" && npm ci --no-audit --no-fund --prefer-offline >"$work/npm-ci.log" 2>&1) || { tail -20 "$work/npm-ci.log"; fail "npm ci"; }
step "npm run build"
(cd "$build" && npm run build >"$work/build.log" 2>&1) || { tail -20 "$work/build.log"; fail "npm run build"; }
step "npm prune --omit=dev"
(cd "$build" && npm prune --omit=dev --no-audit --no-fund >"$work/prune.log" 2>&1) || { tail -20 "$work/prune.log"; fail "npm prune"; }
for dev in tsx typescript vitest webdav-server; do
  [ ! -e "$build/node_modules/$dev" ] || fail "devDependency $dev survived the prune"
done

# 3. A stale dist/ without tsx never runs: it stops with a message (exit 2).
cp -R "$repo/bin" "$build/bin"
touch "$build/src/cli.ts"
set +e
stale_out="$(cd "$build" && node bin/davcrypt.js --help 2>&1)"; stale_code=$?
set -e
[ "$stale_code" = 2 ] && grep -q 'dist/ is older than src/' <<<"$stale_out" || fail "stale dist/ without tsx: expected exit 2 and a message, got $stale_code: $stale_out"

# 4. Runtime stage: only what the second stage copies, started as the ENTRYPOINT does.
app="$work/app"
mkdir -p "$app/docker" "$work/data"
cp "$build/package.json" "$build/package-lock.json" "$app/"
mv "$build/node_modules" "$build/dist" "$app/"
cp -R "$repo/bin" "$repo/config" "$app/"
cp "$repo/docker/davcrypt.yaml" "$app/docker/"
port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
step "starting dist/ on 127.0.0.1:$port"
read -r -a flags <<<"$(sed -n 's/^ENTRYPOINT \["node", \(.*\), "bin\/davcrypt.js"\]$/\1/p' "$dockerfile" | tr -d '",')"
(cd "$app" && NODE_ENV=production DAVCRYPT_HOST=127.0.0.1 DAVCRYPT_PORT="$port" DAVCRYPT_DATA_DIR="$work/data" \
  DAVCRYPT_ADMIN_PASSWORD=build-check DAVCRYPT_LOG_LEVEL=warn \
  exec node "${flags[@]}" bin/davcrypt.js serve --config config/default.yaml >"$work/serve.log" 2>&1) &
server_pid=$!
for _ in $(seq 1 120); do
  # /readyz, as the image's HEALTHCHECK asks it (store and every mount's storage answering).
  if body="$(node -e "fetch('http://127.0.0.1:$port/readyz').then(async r=>{if(r.status!==200)process.exit(1);process.stdout.write(await r.text())}).catch(()=>process.exit(1))")"; then
    [ "$(node -p "JSON.parse(process.argv[1]).status" "$body")" = ok ] || fail "readyz answered $body"
    step "OK: dist/ built, pruned and serving (health: $body)"
    exit 0
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; fail "the gateway exited"; }
  sleep 0.5
done
cat "$work/serve.log"
fail "health path did not answer within 60 s"
