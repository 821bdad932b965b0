#!/usr/bin/env bash
# MAP entrypoint: the app reads HOLOSCAN_INPUT_PATH / HOLOSCAN_OUTPUT_PATH / HOLOSCAN_MODEL_PATH.
ulimit -s 32768 2>/dev/null || true
cd /opt/holoscan/app
exec python3 -m app "$@"
