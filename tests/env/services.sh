#!/usr/bin/env bash
# PostgreSQL (127.0.0.1:5432, user postgres without password, database `test`) and MariaDB
# (127.0.0.1:3306, user root without password, database `test`) for the SQL data-source tests.
# A server that is down is started; one that is not installed is installed from Debian
# (`postgresql`, `mariadb-server`) and given what the tests need: database `test` and
# password-less access on loopback (PostgreSQL: `trust` lines for 127.0.0.1/::1 in pg_hba.conf;
# MariaDB: root@localhost/127.0.0.1/::1 with an empty password). An already installed server is
# reconfigured that way only with NEXBII_TESTENV_CONFIGURE=1 — otherwise the script says what is
# missing and fails. `stop` stops only what this script started.
# NEXBII_TEST_POSTGRES / NEXBII_TEST_MARIADB set: that server is not managed here.
# usage: tests/env/services.sh start|stop|status [postgresql] [mariadb]   (default: both)
#   status exits 0 when every named server answers, 3 otherwise.
set -euo pipefail
source "$(dirname "$0")/common.sh"

SUDO=()
[ "$(id -u)" = 0 ] || SUDO=(sudo)
as_user() {   # as_user USER CMD... (root: runuser; otherwise sudo)
  local u=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$u" -- "$@"; else sudo -u "$u" "$@"; fi
}
may_configure() { [ "${NEXBII_TESTENV_CONFIGURE:-0}" = 1 ] || [ -f "$NEXBII_CACHE/configure.$1" ]; }

# ---------------------------------------------------------------- PostgreSQL
PG_URL="postgresql://postgres@127.0.0.1:5432/test"
pg_up() { if command -v pg_isready >/dev/null; then pg_isready -q -h 127.0.0.1 -p 5432 -t 2; else port_open 127.0.0.1 5432; fi; }
pg_access() { PGCONNECT_TIMEOUT=3 psql -w -X -q "$PG_URL" -tAc 'SELECT 1' >/dev/null 2>&1; }
pg_cluster() {   # "VERSION NAME" of the cluster on port 5432, created when there is none
  local c
  c=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 { print $1, $2; exit }')
  if [ -z "$c" ]; then
    local ver
    ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
    log "creating PostgreSQL cluster $ver/main on port 5432"
    "${SUDO[@]}" pg_createcluster "$ver" main --port 5432 >/dev/null
    c="$ver main"
  fi
  echo "$c"
}
pg_setup_access() {
  pg_access && return 0
  # database missing but the login works?
  if PGCONNECT_TIMEOUT=3 psql -w -X -q "postgresql://postgres@127.0.0.1:5432/postgres" -tAc 'SELECT 1' >/dev/null 2>&1; then
    psql -w -X -q "postgresql://postgres@127.0.0.1:5432/postgres" -c 'CREATE DATABASE test' >/dev/null
    pg_access && return 0
  fi
  if ! may_configure postgresql; then
    log "PostgreSQL on 127.0.0.1:5432 refuses 'postgres' without password or has no database 'test';"
    log "  allow it (trust on loopback) and create it, or rerun with NEXBII_TESTENV_CONFIGURE=1 to let this script do so"
    return 1
  fi
  local hba
  hba=$(as_user postgres psql -X -p 5432 -tAc 'SHOW hba_file')
  if ! grep -q 'added by NexBII tests/env' "$hba"; then
    log "PostgreSQL: trusting loopback connections in $hba"
    { printf '# added by NexBII tests/env/services.sh: password-less loopback access for the tests\n'
      printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'
      cat "$hba"; } >"$hba.nexbii"
    cat "$hba.nexbii" >"$hba" && rm -f "$hba.nexbii"
    as_user postgres psql -X -p 5432 -tAc 'SELECT pg_reload_conf()' >/dev/null
  fi
  if [ -z "$(as_user postgres psql -X -p 5432 -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" ]; then
    as_user postgres psql -X -p 5432 -qc 'CREATE DATABASE test'
  fi
  pg_access
}
pg_start() {
  if [ -n "${NEXBII_TEST_POSTGRES:-}" ]; then log "NEXBII_TEST_POSTGRES is set: PostgreSQL not managed here"; return 0; fi
  if ! pg_up; then
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null; then
      apt_install postgresql
      touch "$NEXBII_CACHE/configure.postgresql"   # installed by us: ours to configure
    fi
    local c
    c=$(pg_cluster)
    if ! pg_up; then   # the package may have started it
      log "starting PostgreSQL $c"
      # shellcheck disable=SC2086
      "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect $c start
      mark_started postgresql "$c"
    fi
    wait_for 30 pg_up || { log "PostgreSQL did not come up on 127.0.0.1:5432"; return 1; }
  else
    log "PostgreSQL already running on 127.0.0.1:5432"
  fi
  pg_setup_access
}
pg_stop() {
  if was_started postgresql; then
    local c; c=$(cat "$NEXBII_RUN/started.postgresql")
    # shellcheck disable=SC2086
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect $c stop || true
    clear_started postgresql; log "PostgreSQL $c stopped"
  else
    log "PostgreSQL: nothing started by tests/env"
  fi
}
pg_status() {
  if [ -n "${NEXBII_TEST_POSTGRES:-}" ]; then echo "postgresql: external ($NEXBII_TEST_POSTGRES)"; return 0; fi
  if pg_up; then
    if was_started postgresql; then echo "postgresql: running (started by tests/env)"; else echo "postgresql: running"; fi
  else echo "postgresql: not running"; return 3; fi
}

# ---------------------------------------------------------------- MariaDB
my_up() { port_open 127.0.0.1 3306; }
my_access() { mariadb --connect-timeout=3 -uroot -h127.0.0.1 -P3306 -NBe 'SELECT 1' test >/dev/null 2>&1; }
my_local() { "${SUDO[@]}" mariadb --connect-timeout=3 -uroot "$@"; }   # unix socket, unix_socket auth as root
my_answers() { mariadb --connect-timeout=2 -uroot -h127.0.0.1 -P3306 -e 'SELECT 1' >/dev/null 2>&1 || my_local -e 'SELECT 1' >/dev/null 2>&1; }
my_setup_access() {
  my_access && return 0
  if mariadb --connect-timeout=3 -uroot -h127.0.0.1 -P3306 -NBe 'SELECT 1' >/dev/null 2>&1; then
    mariadb -uroot -h127.0.0.1 -P3306 -e 'CREATE DATABASE IF NOT EXISTS test'
    my_access && return 0
  fi
  if ! may_configure mariadb; then
    log "MariaDB on 127.0.0.1:3306 refuses 'root' without password or has no database 'test';"
    log "  allow it and create it, or rerun with NEXBII_TESTENV_CONFIGURE=1 to let this script do so"
    return 1
  fi
  log "MariaDB: password-less root on loopback, database test"
  my_local <<'SQL'
CREATE DATABASE IF NOT EXISTS test;
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'root'@'::1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'::1' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  my_access
}
my_start() {
  if [ -n "${NEXBII_TEST_MARIADB:-}" ]; then log "NEXBII_TEST_MARIADB is set: MariaDB not managed here"; return 0; fi
  if ! my_up; then
    if [ ! -x /usr/sbin/mariadbd ]; then
      apt_install mariadb-server
      touch "$NEXBII_CACHE/configure.mariadb"
    fi
    if ! my_up; then   # the package may have started it
      if [ ! -d /var/lib/mysql/mysql ]; then
        log "initialising the MariaDB data directory"
        "${SUDO[@]}" mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
      fi
      "${SUDO[@]}" install -d -o mysql -g mysql /run/mysqld
      log "starting MariaDB"
      "${SUDO[@]}" start-stop-daemon --start --oknodo --background \
        --make-pidfile --pidfile "$NEXBII_RUN/mariadb.pid" --exec /usr/sbin/mariadbd -- --user=mysql
      mark_started mariadb
    fi
    wait_for 60 my_up || { log "MariaDB did not come up on 127.0.0.1:3306"; return 1; }
  else
    log "MariaDB already running on 127.0.0.1:3306"
  fi
  wait_for 30 my_answers || { log "MariaDB does not answer queries"; return 1; }
  my_setup_access
}
my_stop() {
  if was_started mariadb; then
    if ! mariadb-admin --connect-timeout=3 -uroot -h127.0.0.1 -P3306 shutdown 2>/dev/null \
       && ! my_local -e 'SHUTDOWN' 2>/dev/null; then
      "${SUDO[@]}" start-stop-daemon --stop --oknodo --retry 30 --pidfile "$NEXBII_RUN/mariadb.pid" || true
    fi
    local pid; pid=$(cat "$NEXBII_RUN/mariadb.pid" 2>/dev/null || true)
    for _ in $(seq 1 150); do
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then sleep 0.2; elif my_up; then sleep 0.2; else break; fi
    done
    rm -f "$NEXBII_RUN/mariadb.pid"; clear_started mariadb; log "MariaDB stopped"
  else
    log "MariaDB: nothing started by tests/env"
  fi
}
my_status() {
  if [ -n "${NEXBII_TEST_MARIADB:-}" ]; then echo "mariadb: external ($NEXBII_TEST_MARIADB)"; return 0; fi
  if my_up; then
    if was_started mariadb; then echo "mariadb: running (started by tests/env)"; else echo "mariadb: running"; fi
  else echo "mariadb: not running"; return 3; fi
}

# ---------------------------------------------------------------- main
cmd=${1:-status}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=(postgresql mariadb)
case "$cmd" in start|stop|status) ;; *) echo "usage: $0 start|stop|status [postgresql] [mariadb]" >&2; exit 2 ;; esac
rc=0
set +e
for n in "${names[@]}"; do
  case "$n" in postgresql|postgres|pg) f=pg ;; mariadb|mysql) f=my ;; *) echo "unknown service $n" >&2; exit 2 ;; esac
  # a subshell outside any `||`, so that `set -e` holds inside the function
  (set -e; "${f}_$cmd"); r=$?
  if [ $r -ne 0 ]; then if [ "$cmd" = status ]; then rc=3; else rc=1; fi; fi
done
exit $rc
