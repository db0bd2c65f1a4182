#!/usr/bin/env bash
# Installs the real third-party peers the interop tests run against, from the package registries only:
# Rails ActionCable 6.1 + puma (Debian), soketi 1.6 and the JavaScript clients (npm, from the lock files).
# Fails loudly when a peer cannot be installed: the interop tests never pass by skipping.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v puma >/dev/null 2>&1 || ! ruby -e 'require "action_cable"' >/dev/null 2>&1; then
  echo "installing ruby-actioncable and puma (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ruby-actioncable puma >/dev/null
fi
ruby -e 'require "logger"; require "action_cable"; puts "actioncable #{ActionCable.version}"'
# the Redis scale-out tests (feedwire-redis, and Rails with `adapter: redis`)
if ! command -v redis-server >/dev/null 2>&1 || ! ruby -e 'require "redis"' >/dev/null 2>&1; then
  echo "installing redis-server and ruby-redis (apt)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server ruby-redis >/dev/null
fi
redis-server --version
puma --version

for peer in soketi clients; do
  echo "installing $peer (npm ci)"
  (cd "$here/peers/$peer" && npm ci --no-audit --no-fund --loglevel=error)
done
node "$here/peers/soketi/node_modules/.bin/soketi" --version 2>/dev/null || true
