#!/bin/sh
# Install the system packages Junction's sandbox layer needs (Debian/Ubuntu), idempotently.
#
#   bubblewrap   the `bwrap` program: the local sandbox backend
#   util-linux   `prlimit`, which applies rlimits inside each sandbox (Essential; checked)
#   curl         HTTP client usable inside sandboxes (goes through the egress proxy)
#   python3, python3-numpy, python3-pandas, python3-scipy, python3-matplotlib
#                the Python 3 (and scientific stack) sandboxed code gets
#   nodejs       Node.js inside sandboxes (skipped when /usr/bin/node already exists,
#                e.g. from NodeSource)
#   chromium, chromium-driver
#                a headless browser and its WebDriver, for the web console's browser
#                tests (tests/console; they skip without them unless
#                JUNCTION_REQUIRE_BROWSER=1)
#
# It also creates the `junction-sandbox` system user: when Junction runs as root, the
# sandboxes run as this unprivileged host user (see docs/sandbox.md).
#
# Does nothing that is already done. Needs root to change anything; without root it only
# reports what is missing and exits non-zero if something is.
set -eu

PACKAGES="bubblewrap util-linux curl python3 python3-numpy python3-pandas python3-scipy python3-matplotlib"
[ -x /usr/bin/node ] || PACKAGES="$PACKAGES nodejs"
PACKAGES="$PACKAGES chromium chromium-driver"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done

need_user=0
getent passwd junction-sandbox >/dev/null 2>&1 || need_user=1

if [ -z "$missing" ] && [ "$need_user" = 0 ]; then
    echo "install-system-deps: all present (bwrap: $(command -v bwrap))"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    [ -n "$missing" ] && echo "install-system-deps: missing packages:$missing (run as root to install)" >&2
    [ "$need_user" = 1 ] && echo "install-system-deps: missing user junction-sandbox (run as root to create)" >&2
    exit 1
fi

if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-system-deps: no apt-get here; install:$missing" >&2
        exit 1
    fi
    echo "install-system-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi

if [ "$need_user" = 1 ]; then
    echo "install-system-deps: creating system user junction-sandbox"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
        --user-group junction-sandbox
fi

command -v bwrap >/dev/null
echo "install-system-deps: done (bwrap: $(command -v bwrap))"
