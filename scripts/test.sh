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
# libvirt's daemon with the QEMU driver, for the agent's real migration tests
# (agent/libvirt); they fail without it unless BBUS_SKIP_LIBVIRT=1.
if [ "${BBUS_SKIP_LIBVIRT:-}" != 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  if [ ! -x /usr/sbin/libvirtd ] || [ ! -x /usr/bin/qemu-system-x86_64 ]; then
    echo "installing Debian's libvirt and QEMU for the libvirt agent's tests..."
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 qemu-utils >/dev/null
  fi
  # The QEMU driver looks this user up even when qemu.conf says root.
  getent group libvirt-qemu >/dev/null || $SUDO groupadd -r libvirt-qemu
  getent passwd libvirt-qemu >/dev/null || $SUDO useradd -r -g libvirt-qemu $(getent group kvm >/dev/null && echo -G kvm) -d /var/lib/libvirt -M -s /usr/sbin/nologin libvirt-qemu
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
