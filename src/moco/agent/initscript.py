"""The init script that prepares a mysqld Pod, run by the USER's mysqld image.

The data directory must be initialised by the mysqld of the image the user chose, which has a
POSIX shell but no Python. So the Pod runs two init containers: ``copy-moco-init`` (our image)
writes this script into the shared volume (``moco-agent init-script --output ...``), and
``moco-init`` (the mysqld image) runs it with ``sh SCRIPT SERVER_ID_BASE``.

The script:

1. if ``$DATA_ROOT/moco-initialized`` is absent, removes a half-made ``$DATA_ROOT/data`` and runs
   ``mysqld --initialize-insecure`` on it (adding a passwordless ``root@127.0.0.1`` next to
   ``root@localhost``, for the agent to reach over TCP; the agent drops both), then marks the
   volume initialised (the mark is written under a temporary name, synced, then renamed, so a
   crash never leaves a mark without data);
2. writes the per-Pod settings (server_id, admin_address, report_host) into
   ``$CONF_DIR/my.cnf`` through a temporary file and a rename.

It is idempotent: a second run leaves the data alone and rewrites the same settings.

Inputs (environment): ``POD_NAME`` (required; its ordinal is added to SERVER_ID_BASE),
``CLUSTER_NAME`` and ``POD_NAMESPACE`` (for report_host, unless ``MOCO_REPORT_HOST`` is set),
``MOCO_CLUSTER_DOMAIN`` (default ``cluster.local``), ``MOCO_ADMIN_LOCALHOST=1`` (bind the admin
port to localhost), ``MOCO_MYSQLD`` (the mysqld command, default ``mysqld``; may hold a loader
and its arguments), ``MOCO_MYSQLD_ARGS`` (arguments put first, e.g. ``--defaults-file=...``),
``MOCO_DATA_ROOT`` (default ``/var/lib/mysql``), ``MOCO_CONF_DIR`` (default
``/etc/mysql-conf.d``), ``MOCO_LOWER_CASE_TABLE_NAMES`` (passed to --initialize when set).
"""

from __future__ import annotations

from moco import constants
from moco.mycnf import render_instance_template

SCRIPT_NAME = "moco-init.sh"
INITIALIZED_MARK = "moco-initialized"

_TEMPLATE = r"""#!/bin/sh
# moco-init: initialise the data directory of this Pod and write its per-Pod settings.
# Usage: sh moco-init.sh SERVER_ID_BASE     (see moco.agent.initscript for the environment)
set -eu

die() { echo "moco-init: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: moco-init.sh SERVER_ID_BASE"
SERVER_ID_BASE=$1
case "$SERVER_ID_BASE" in ''|*[!0-9]*) die "bad SERVER_ID_BASE: $SERVER_ID_BASE" ;; esac

POD_NAME=${POD_NAME:-}
[ -n "$POD_NAME" ] || die "POD_NAME is not set"
ORDINAL=${POD_NAME##*-}
case "$ORDINAL" in ''|*[!0-9]*) die "bad POD_NAME: $POD_NAME" ;; esac
[ "$ORDINAL" != "$POD_NAME" ] || die "bad POD_NAME: $POD_NAME"
SERVER_ID=$((SERVER_ID_BASE + ORDINAL))

MYSQLD=${MOCO_MYSQLD:-mysqld}
MYSQLD_ARGS=${MOCO_MYSQLD_ARGS:-}
DATA_ROOT=${MOCO_DATA_ROOT:-@DATA_ROOT@}
CONF_DIR=${MOCO_CONF_DIR:-@CONF_DIR@}
DOMAIN=${MOCO_CLUSTER_DOMAIN:-cluster.local}

if [ -n "${MOCO_REPORT_HOST:-}" ]; then
    REPORT_HOST=$MOCO_REPORT_HOST
else
    [ -n "${CLUSTER_NAME:-}" ] || die "CLUSTER_NAME is not set"
    [ -n "${POD_NAMESPACE:-}" ] || die "POD_NAMESPACE is not set"
    REPORT_HOST="$POD_NAME.moco-$CLUSTER_NAME.$POD_NAMESPACE.svc.$DOMAIN"
fi
if [ "${MOCO_ADMIN_LOCALHOST:-}" = 1 ]; then
    ADMIN_ADDRESS=localhost
else
    ADMIN_ADDRESS=$POD_NAME
fi

if [ ! -f "$DATA_ROOT/@MARK@" ]; then
    echo "moco-init: initialising $DATA_ROOT/data" >&2
    mkdir -p "$DATA_ROOT"
    rm -rf "$DATA_ROOT/data"
    EXTRA=""
    if [ -n "${MOCO_LOWER_CASE_TABLE_NAMES:-}" ]; then
        EXTRA="--lower-case-table-names=$MOCO_LOWER_CASE_TABLE_NAMES"
    fi
    # A passwordless root on 127.0.0.1 besides root@localhost, so that the agent can reach a
    # fresh instance over TCP; the agent drops both once moco's users exist.
    INIT_SQL="$DATA_ROOT/.moco-init.sql"
    cat > "$INIT_SQL" <<'MOCO_SQL'
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
GRANT PROXY ON ''@'' TO 'root'@'127.0.0.1' WITH GRANT OPTION;
MOCO_SQL
    # MYSQLD and MYSQLD_ARGS are split into words on purpose.
    # shellcheck disable=SC2086
    $MYSQLD $MYSQLD_ARGS --datadir="$DATA_ROOT/data" --initialize-insecure --init-file="$INIT_SQL" $EXTRA
    rm -f "$INIT_SQL"
    : > "$DATA_ROOT/.@MARK@"
    sync
    mv -f "$DATA_ROOT/.@MARK@" "$DATA_ROOT/@MARK@"
    sync
else
    echo "moco-init: $DATA_ROOT already initialised" >&2
fi

mkdir -p "$CONF_DIR"
TMP="$CONF_DIR/.my.cnf.$$"
cat > "$TMP" <<MOCO_EOF
@INSTANCE_CONF@MOCO_EOF
mv -f "$TMP" "$CONF_DIR/my.cnf"
echo "moco-init: wrote $CONF_DIR/my.cnf (server_id=$SERVER_ID)" >&2
"""


def render_init_script() -> str:
    """The script's text (the same for every Pod; per-Pod values come from the environment)."""
    conf = render_instance_template("${SERVER_ID}", "${ADMIN_ADDRESS}", "${REPORT_HOST}")
    return (
        _TEMPLATE.replace("@DATA_ROOT@", constants.MYSQL_DATA_PATH)
        .replace("@CONF_DIR@", constants.MYSQL_INIT_CONF_PATH)
        .replace("@MARK@", INITIALIZED_MARK)
        .replace("@INSTANCE_CONF@", conf)
    )
