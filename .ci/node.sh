# Source this file (`source .ci/node.sh`) to put Node.js 24 first on PATH when the machine's Node is
# older than the project needs (engines >=22.12). Node comes from the npm registry's per-platform
# `node-<os>-<arch>` package (the binary the `node` package installs), so no other download is needed.
# `node --version` answers without starting a JavaScript context: a few ms instead of ~100.
swas_node_ok() {
  local version major minor
  version="$(node --version 2>/dev/null)" || return 1
  version="${version#v}"
  major="${version%%.*}"
  minor="${version#*.}"
  minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  ((major > 22 || (major == 22 && minor >= 12)))
}
if ! swas_node_ok; then
  SWAS_NODE_VERSION="${SWAS_NODE_VERSION:-24}"
  SWAS_NODE_DIR="${SWAS_NODE_DIR:-$HOME/.cache/swas-inventory/node-$SWAS_NODE_VERSION}"
  case "$(uname -m)" in
    x86_64) swas_node_arch=x64 ;;
    aarch64 | arm64) swas_node_arch=arm64 ;;
    *) swas_node_arch="$(uname -m)" ;;
  esac
  swas_node_pkg="node-$(uname -s | tr '[:upper:]' '[:lower:]')-$swas_node_arch"
  if [ ! -x "$SWAS_NODE_DIR/node_modules/$swas_node_pkg/bin/node" ]; then
    echo "Installing Node.js $SWAS_NODE_VERSION ($swas_node_pkg) into $SWAS_NODE_DIR (machine has $(node --version 2>/dev/null || echo none))" >&2
    mkdir -p "$SWAS_NODE_DIR"
    npm install --silent --no-save --no-audit --no-fund --prefix "$SWAS_NODE_DIR" "$swas_node_pkg@$SWAS_NODE_VERSION" >&2
  fi
  export PATH="$SWAS_NODE_DIR/node_modules/$swas_node_pkg/bin:$PATH"
  hash -r
  [ -n "${SWAS_NODE_QUIET:-}" ] || echo "Using Node.js $(node --version) from $SWAS_NODE_DIR" >&2
fi
