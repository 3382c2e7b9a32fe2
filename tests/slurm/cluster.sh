#!/usr/bin/env bash
# A real one-node SLURM cluster on localhost, for the test suite.
#
#   tests/slurm/cluster.sh install   Debian packages (root; once per machine; a no-op when installed)
#   tests/slurm/cluster.sh installed exit status 0 when every package is installed
#   tests/slurm/cluster.sh up        start munge, MariaDB, slurmdbd, slurmctld, slurmd (idempotent)
#   tests/slurm/cluster.sh down      stop the daemons that `up` started, by PID, and nothing else
#   tests/slurm/cluster.sh status
#
# No systemd here: daemons are started directly. Each PID that `up` starts is recorded
# in $STATE/started; `down` stops exactly those. Configuration is written to
# /etc/slurm (marked as ours; a foreign slurm.conf is never overwritten).
set -euo pipefail

STATE=${ISDAA_SLURM_STATE:-/var/tmp/isdaa-slurm}
HOST=$(hostname -s)
CLUSTER=isdaa
ACCOUNT=isdaa_ci
PARTITION=debug
MARK="# written by isdaa tests/slurm/cluster.sh"
DB_PASS=isdaa-ci-only

log() { echo "[cluster] $*" >&2; }

alive() {  # a PID that exists and is not a zombie
    [[ -r /proc/$1/stat ]] && [[ $(stat_field "$1" 3) != Z ]]
}

# Field N of /proc/PID/stat (counted as in proc(5); the name in parentheses may hold spaces).
stat_field() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk -v n=$(($2 - 2)) '{print $n}'; }

# The same process we started: alive, with the start time we recorded (a PID can be reused).
ours() { alive "$1" && [[ $(stat_field "$1" 22) == "$2" ]]; }

pid_of() { [[ -s $1 ]] && cat "$1" || true; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local seconds=$1 what=$2
    shift 2
    for _ in $(seq $((seconds * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    log "timed out waiting for $what"
    return 1
}

record() { echo "$1 $2 $(stat_field "$2" 22)" >> "$STATE/started"; }  # record NAME PID -> NAME PID STARTTIME

prune() {  # forget recorded daemons that are gone (a crash, a reboot): their PIDs may be reused
    [[ -f $STATE/started ]] || return 0
    local name pid start kept=""
    while read -r name pid start; do
        if ours "$pid" "$start"; then kept+="$name $pid $start"$'\n'; fi
    done < "$STATE/started"
    printf '%s' "$kept" > "$STATE/started"
}

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)

installed() {  # every package is installed
    local status
    status=$(dpkg-query -W -f='${Status}\n' "${PACKAGES[@]}" 2>/dev/null || true)
    [[ $(grep -c "install ok installed" <<< "$status") -eq ${#PACKAGES[@]} ]]
}

install() {
    if installed; then log "packages already installed"; return; fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
}

write_configs() {
    mkdir -p /etc/slurm "$STATE"/{spool,ctld,log}
    if [[ -f /etc/slurm/slurm.conf ]] && ! grep -qF "$MARK" /etc/slurm/slurm.conf; then
        log "/etc/slurm/slurm.conf exists and is not ours; refusing to overwrite it"
        exit 1
    fi
    local cpus mem
    # Not plain `nproc`: it obeys OMP_NUM_THREADS (1 in the tests), which would make a one-CPU node.
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    cat > /etc/slurm/slurm.conf <<EOF
$MARK
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MinJobAge=600
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/none
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat > /etc/slurm/slurmdbd.conf <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
EOF
    chown slurm:slurm /etc/slurm/slurmdbd.conf "$STATE/log"
    chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
    # By pidfile, not by name: a munged that `down` just stopped can linger as a zombie.
    local pid
    pid=$(pid_of /run/munge/munged.pid)
    if [[ -n $pid ]] && alive "$pid"; then return; fi
    rm -f /run/munge/munged.pid
    mkdir -p /run/munge && chown munge:munge /run/munge
    [[ -s /etc/munge/munge.key ]] || { mungekey --create >/dev/null 2>&1 || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged
    wait_for 10 munged test -s /run/munge/munged.pid
    record munged "$(cat /run/munge/munged.pid)"
}

start_mariadb() {
    if mysqladmin ping >/dev/null 2>&1; then return; fi
    /etc/init.d/mariadb start >/dev/null
    wait_for 30 mariadb mysqladmin ping
    record mariadb "$(cat /run/mysqld/mysqld.pid)"
    # Recorded after mysqld so that `down` stops it first: it would restart mysqld.
    record mysqld_safe "$(pgrep -o -f mysqld_safe)"
    mysql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_daemon() {  # start_daemon NAME PIDFILE COMMAND...
    local name=$1 pidfile=$2
    shift 2
    local pid
    pid=$(pid_of "$pidfile")
    if [[ -n $pid ]] && alive "$pid"; then return; fi
    rm -f "$pidfile"
    "$@"
    wait_for 20 "$name" test -s "$pidfile"
    record "$name" "$(cat "$pidfile")"
}

sacctmgr_add() { sacctmgr -i "$@" >/dev/null 2>&1 || true; }  # exits 1 when it already exists

up() {
    write_configs
    touch "$STATE/started"
    prune
    start_munge
    start_mariadb
    start_daemon slurmdbd "$STATE/slurmdbd.pid" /usr/sbin/slurmdbd
    wait_for 20 slurmdbd sacctmgr -n show cluster
    sacctmgr_add add cluster "$CLUSTER"
    sacctmgr_add add account "$ACCOUNT" cluster="$CLUSTER"
    sacctmgr_add add user root account="$ACCOUNT" cluster="$CLUSTER"
    start_daemon slurmctld "$STATE/slurmctld.pid" /usr/sbin/slurmctld
    start_daemon slurmd "$STATE/slurmd.pid" /usr/sbin/slurmd -N "$HOST"
    wait_for 30 "an idle node" bash -c "sinfo -h -o %t | grep -qE '^(idle|mix)'"
    log "up: partition $PARTITION, account $ACCOUNT, node $HOST"
}

down() {
    [[ -f $STATE/started ]] || { log "nothing was started"; return; }
    # Stop in reverse start order: slurmd, slurmctld, slurmdbd, mysqld_safe, mariadb, munged.
    tac "$STATE/started" | while read -r name pid start; do
        if ours "$pid" "$start"; then
            # mysqld_safe (a shell script supervising mysqld) ignores SIGTERM.
            if [[ $name == mysqld_safe ]]; then kill -9 "$pid" 2>/dev/null || true; else kill "$pid" 2>/dev/null || true; fi
            for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
            alive "$pid" && kill -9 "$pid" 2>/dev/null || true
            log "stopped $name ($pid)"
        fi
    done
    rm -f "$STATE/started"
}

status() {
    [[ -f $STATE/started ]] || { echo "down"; return; }
    while read -r name pid start; do
        if ours "$pid" "$start"; then echo "$name $pid running"; else echo "$name $pid gone"; fi
    done < "$STATE/started"
    sinfo 2>/dev/null || true
}

case ${1:-} in
    install) install ;;
    installed) installed ;;
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 install|installed|up|down|status" >&2; exit 2 ;;
esac
