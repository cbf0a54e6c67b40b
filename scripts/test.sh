#!/usr/bin/env bash
# The project's test command (the README's). Installs what the tests need on a
# fresh machine (Debian's Chromium, for the dashboard's browser tests), then runs
# every test; fails on any failure. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] && [ "${BBUS_SKIP_BROWSER:-}" != 1 ]; then
  echo "installing Debian's chromium for the browser tests..."
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# Debian's RabbitMQ, for the Nova notification source's tests (they fail without it
# unless BBUS_SKIP_RABBITMQ=1).
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && [ "${BBUS_SKIP_RABBITMQ:-}" != 1 ]; then
  echo "installing Debian's rabbitmq-server for the Nova source's tests..."
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rabbitmq-server >/dev/null
fi
go test -count=1 -timeout 15m ./... "$@"
