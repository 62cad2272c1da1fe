#!/usr/bin/env bash
# Installs the Debian packages the project needs on a fresh Debian 12 (bookworm) machine:
#   chromium            headless browser for the end-to-end tests (WebGPU on SwiftShader)
#   mesa-vulkan-drivers lavapipe, a CPU Vulkan driver for Dawn in Node; bookworm's own Mesa 22
#                       is rejected by Dawn, so it comes from bookworm-backports (Mesa 25)
#   dataset-fashion-mnist  real data for the learning tests (MIT licence)
#   python3-torch       independent reference that generated the golden fixtures (optional)
# Safe to run twice; only installs what is missing. Needs root (or sudo).
set -euo pipefail
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
want_torch=0; [ "${1:-}" = "--with-torch" ] && want_torch=1

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
lvp_ok() { [ -f /usr/share/vulkan/icd.d/lvp_icd.json ] && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qv '^22\.'; }

need=()
have_pkg chromium || need+=(chromium)
have_pkg dataset-fashion-mnist || need+=(dataset-fashion-mnist)
[ $want_torch = 1 ] && ! have_pkg python3-torch && need+=(python3-torch)
if ! lvp_ok; then need_mesa=1; else need_mesa=0; fi

if [ ${#need[@]} -eq 0 ] && [ $need_mesa = 0 ]; then
  echo "[install-system-deps] all present"; exit 0
fi

if [ $need_mesa = 1 ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "[install-system-deps] adding the bookworm-backports suite"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
if [ ${#need[@]} -gt 0 ]; then
  echo "[install-system-deps] installing ${need[*]}"
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
if [ $need_mesa = 1 ]; then
  echo "[install-system-deps] installing mesa-vulkan-drivers from bookworm-backports"
  $SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports mesa-vulkan-drivers
fi
echo "[install-system-deps] done"
