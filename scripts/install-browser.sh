#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the browser tests
# (internal/web/browsertest). It does nothing when a Chromium is already on
# the PATH; the tests find it as chromium, chromium-browser or google-chrome,
# or at $CROWD_CHROMIUM.
set -euo pipefail

for b in chromium chromium-browser google-chrome; do
	if command -v "$b" >/dev/null 2>&1; then
		echo "browser: $(command -v "$b") is already installed"
		exit 0
	fi
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends chromium fonts-liberation
chromium --version
