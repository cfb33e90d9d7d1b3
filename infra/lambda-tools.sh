#!/usr/bin/env bash
# Runs a command with the Lambda build tools on PATH — SAM CLI, cargo-lambda and Zig (the linker
# cargo-lambda uses to cross-compile without Docker):   infra/lambda-tools.sh sam build --beta-features
# All three come from PyPI, pinned, into infra/.venv-deploy on first use (or when a pin changes),
# so a clean clone needs only Python 3 with venv and pip.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/infra/.venv-deploy"
packages=(
  "aws-sam-cli==1.170.0"
  "cargo-lambda==1.9.2"
  "ziglang==0.14.1"
)
stamp="$venv/.installed"

if [ ! -x "$venv/bin/sam" ] || [ "$(cat "$stamp" 2>/dev/null)" != "${packages[*]}" ]; then
  echo "lambda-tools: installing ${packages[*]} into infra/.venv-deploy" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${packages[@]}"
  echo "${packages[*]}" >"$stamp"
fi

# cargo-lambda finds Zig as `python3 -m ziglang` or `zig`; the venv's python and bin come first.
export PATH="$venv/bin:$PATH"
# No telemetry from CI or a developer's build.
export SAM_CLI_TELEMETRY=0
"$@"
