#!/usr/bin/env bash
# Install PyTorch for the DDP trainer and its tests (scripts/train_ddp.py, tests/ddp) in a virtual
# environment OUTSIDE the repository. The demo does not need it.
#
#   bash scripts/setup-torch.sh                      # venv in /opt/torch-venv
#   TORCH_VENV=$HOME/torch-venv bash scripts/setup-torch.sh
#
# Idempotent: skipped when the venv's python already imports torch, safetensors and numpy.
# Network: PyPI only (pip install torch safetensors numpy; the default torch wheel, ~5 GB with its
# CUDA libraries, also runs on CPU-only machines), plus apt's python3-venv if venv is missing.
set -euo pipefail

VENV="${TORCH_VENV:-/opt/torch-venv}"
info() { printf '    %s\n' "$*"; }

have_torch() {
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import torch, safetensors, numpy" >/dev/null 2>&1
}

printf '\n==> PyTorch venv for the DDP tests (%s)\n' "$VENV"
if have_torch; then
    info "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') in $VENV: already installed, skipping"
    exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "setup-torch.sh: error: python3 not found" >&2; exit 1; }
if ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    # Debian splits venv/ensurepip into python3-venv
    SUDO=()
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO=(sudo)
    info "installing python3-venv (apt)"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv
fi
if [ ! -x "$VENV/bin/pip" ]; then
    info "python3 -m venv $VENV"
    python3 -m venv "$VENV"
fi
info "$VENV/bin/pip install torch safetensors numpy"
"$VENV/bin/pip" install --no-input --disable-pip-version-check torch safetensors numpy
have_torch || { echo "setup-torch.sh: error: $VENV/bin/python still cannot import torch" >&2; exit 1; }
info "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') installed in $VENV"
