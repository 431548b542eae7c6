#!/usr/bin/env bash
# Installs MI-NeRF Dub and its dependencies into the current Python environment.
#   bash install.sh        the toolkit
#   bash install.sh test   the toolkit plus what the test suite needs
set -euo pipefail
cd "$(dirname "$0")"
extras=""
if [ "${1:-}" = "test" ]; then extras="[test]"; fi
python -m pip install --quiet -e ".${extras}"
if [ "${1:-}" = "test" ]; then
  # Reference implementations that the parity tests compare against; installed without
  # their declared dependencies (see docs/dependencies.md).
  if [ -s requirements-reference.txt ]; then
    python -m pip install --quiet --no-deps -r requirements-reference.txt
  fi
fi
