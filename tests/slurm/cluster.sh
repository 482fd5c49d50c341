#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests: slurmctld, slurmd and munged,
# a `gpu` partition whose node has 2 GPUs of type `fake` and the feature `fakegpu` (empty
# device files: jobs are scheduled like GPU jobs, TensorFlow then runs on the CPU), and at least
# 4 CPUs whatever the machine has (two tests' jobs side by side on 2 cores).
# Like a production cluster, it has accounting (slurmdbd on a MariaDB of its own: sacct,
# sacctmgr, an account `testaccount`, a QOS `limited`), kills a job that uses more memory than it asked for (job
# accounting's OverMemoryKill: every 2 s, no cgroups needed), and an `urgent` partition
# preempts jobs of the others (they get SIGTERM, then go back to the queue; jobs of the `cancelled`
# partition are ended instead: PreemptMode=CANCEL with no grace time). Its timers are shorter
# than a production cluster's, so that tests wait less (the behaviour is the same): a requeued job
# starts again after 10 s (cred_expire; default 120 s), and the scheduler looks at pending jobs every
# 2 s (sched_interval, bf_interval; defaults 60 s and 30 s).
#
#   tests/slurm/cluster.sh install        # apt-get install slurm-wlm munge slurmdbd mariadb-server (root)
#   tests/slurm/cluster.sh start DIR      # write config under DIR, start daemons, wait for the node
#   tests/slurm/cluster.sh stop DIR       # stop the daemons started by `start DIR`, by pid
#
# Clients (sbatch, squeue, snakemake's plugin) must see SLURM_CONF=DIR/slurm.conf.
set -euo pipefail

command=${1:?usage: cluster.sh install|start DIR|stop DIR}

if [[ $command == install ]]; then
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v slurmdbd >/dev/null \
        || ! command -v mariadbd >/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge slurmdbd mariadb-server >/dev/null
    fi
    exit 0
fi

dir=$(realpath -m "${2:?cluster directory}")

stop_pidfile() {
    local pidfile=$1
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# Commands inside jobs (srun of Snakemake's job step) ignore SLURM_CONF and read
# /etc/slurm: link our config there, only where no config exists, and unlink on stop.
link_config() {
    mkdir -p /etc/slurm
    local name
    for name in slurm.conf gres.conf; do
        if [[ -e /etc/slurm/$name && $(readlink "/etc/slurm/$name") != "$dir/$name" ]]; then
            echo "/etc/slurm/$name exists and is not ours: not touching a real SLURM installation" >&2
            exit 1
        fi
        ln -sfn "$dir/$name" "/etc/slurm/$name"
    done
}

unlink_config() {
    local name
    for name in slurm.conf gres.conf; do
        if [[ $(readlink "/etc/slurm/$name" 2>/dev/null) == "$dir/$name" ]]; then
            rm -f "/etc/slurm/$name"
        fi
    done
}

if [[ $command == stop ]]; then
    # Its jobs first (they are ours: the cluster is), so no job step outlives the daemons.
    if [[ -f $dir/slurmctld.pid ]] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
        SLURM_CONF=$dir/slurm.conf scancel --full --signal=KILL --user="$(id -un)" 2>/dev/null || true
        SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" 2>/dev/null || true
        for _ in $(seq 50); do
            [[ -z $(SLURM_CONF=$dir/slurm.conf squeue -h -t RUNNING,COMPLETING 2>/dev/null) ]] && break
            sleep 0.2
        done
    fi
    stop_pidfile "$dir/slurmd.pid"
    stop_pidfile "$dir/slurmctld.pid"
    stop_pidfile "$dir/slurmdbd.pid"
    stop_pidfile "$dir/mysql.pid"
    stop_pidfile "$dir/munged.pid"
    unlink_config
    exit 0
fi

[[ $command == start ]] || { echo "unknown command $command" >&2; exit 2; }
mkdir -p "$dir/spool" "$dir/state" "$dir/munge"
host=$(hostname)
# The node: at least 4 CPUs, whatever the machine has (config_overrides below: slurmd takes the
# configured node as it is, instead of draining it for having fewer CPUs than configured), so that
# two tests' one-CPU jobs run side by side on a 2-core machine (tests/test_slurm.py runs two at a
# time); 90% of the machine's memory.
node=$(slurmd -C | head -1)
memory=$(sed -E 's/.*RealMemory=([0-9]+).*/\1/' <<<"$node")
cpus=$(sed -E 's/.*CPUs=([0-9]+).*/\1/' <<<"$node")
(( cpus >= 4 )) || cpus=4
node="NodeName=$host CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 \
RealMemory=$((memory * 9 / 10))"
: > "$dir/fakegpu0"
: > "$dir/fakegpu1"

cat > "$dir/slurm.conf" <<CONF
ClusterName=testcluster
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
SchedulerParameters=sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=2
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=$host
AccountingStoragePort=16819
AccountingStoragePass=$dir/munge/munge.socket
AccountingStorageEnforce=limits
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmUser=root
ReturnToService=2
GresTypes=gpu
MinJobAge=3600
SlurmctldPort=16817
SlurmdPort=16818
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
$node Gres=gpu:fake:2 Features=fakegpu State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=60
PartitionName=gpu Nodes=$host MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=60
PartitionName=urgent Nodes=$host MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
PartitionName=cancelled Nodes=$host MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=CANCEL GraceTime=0
CONF
echo "NodeName=$host Name=gpu Type=fake Count=2 File=$dir/fakegpu[0-1]" > "$dir/gres.conf"

# slurmdbd reads slurmdbd.conf beside slurm.conf; it must be private to its user.
cat > "$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
DbdHost=$host
DbdPort=16819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=16820
StorageUser=slurm
StoragePass=test
StorageLoc=slurm_acct_db
PidFile=$dir/slurmdbd.pid
LogFile=$dir/slurmdbd.log
CONF
chmod 600 "$dir/slurmdbd.conf"

link_config
export SLURM_CONF=$dir/slurm.conf
# A munged of our own (own socket and pid file), so it can be stopped by pid.
munged --force --socket="$dir/munge/munge.socket" --pid-file="$dir/munged.pid" \
    --seed-file="$dir/munge/seed" --log-file="$dir/munge/munged.log"
# Accounting: a MariaDB of our own (its files, socket and pid under $dir; TCP on 127.0.0.1
# only), then slurmdbd, then the cluster, an account and this user in it.
mariadb-install-db --user="$(id -un)" --datadir="$dir/mysql" --auth-root-authentication-method=normal \
    --skip-test-db >"$dir/mysql-install.log" 2>&1
mariadbd --user="$(id -un)" --datadir="$dir/mysql" --socket="$dir/mysql.sock" --pid-file="$dir/mysql.pid" \
    --port=16820 --bind-address=127.0.0.1 --log-error="$dir/mysql.err" >/dev/null 2>&1 &
for _ in $(seq 60); do [[ -S $dir/mysql.sock && -f $dir/mysql.pid ]] && break; sleep 0.5; done
mariadb --socket="$dir/mysql.sock" -u root -e "CREATE DATABASE slurm_acct_db;
    CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'test'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
slurmdbd
for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -i add cluster testcluster >/dev/null
sacctmgr -i add account testaccount cluster=testcluster >/dev/null
sacctmgr -i add user "$(id -un)" account=testaccount >/dev/null
# A QOS of its own for the test that limits submissions (the other tests' jobs have the default QOS `normal`,
# which its limit does not hold), and this user allowed to use it.
sacctmgr -i add qos limited >/dev/null
sacctmgr -i modify user "$(id -un)" set qos+=limited >/dev/null
slurmctld
slurmd
for _ in $(seq 60); do
    state=$(sinfo -h -p gpu -o %t 2>/dev/null || true)
    [[ $state == idle ]] && { echo "SLURM up: partition gpu, node $host idle"; exit 0; }
    sleep 1
done
echo "SLURM did not come up (node state: ${state:-unknown}); logs in $dir" >&2
exit 1
