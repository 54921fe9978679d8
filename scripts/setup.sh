#!/usr/bin/env bash
# Installs what selfsup needs on a fresh Debian/Ubuntu machine: a C toolchain, pkg-config,
# the Fashion-MNIST dataset package (our default data, into /usr/share/datasets/fashion-mnist),
# Mesa's Vulkan drivers (lavapipe: the wgpu backend and its tests run on the CPU without a GPU),
# fontconfig and the DejaVu fonts (the labels of the PNG plots), python3 (a test reads
# `selfsup embed`'s output from Python, as a user would) and, if cargo is missing, Rust via
# rustup. Safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(build-essential pkg-config curl ca-certificates dataset-fashion-mnist mesa-vulkan-drivers
          libfontconfig1-dev fonts-dejavu-core python3)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "cargo is in ~/.cargo/bin: run 'source ~/.cargo/env' or open a new shell" >&2
  else
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  fi
fi
