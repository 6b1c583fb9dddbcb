#!/usr/bin/env bash
# A real single-node Apache Kafka 3.9 broker for development and tests (`npm run kafka -- ...`):
# KRaft mode, one JVM that is both broker and controller, on free loopback ports.
#
#   scripts/kafka.sh start  [--dir DIR]   fetch jars if missing, format if new, start in the
#                                          background, wait until it answers; prints bootstrap=...
#   scripts/kafka.sh stop   [--dir DIR]   stop it by its process id (TERM, then KILL after 20 s)
#   scripts/kafka.sh status [--dir DIR]   running or stopped, and its bootstrap address
#   scripts/kafka.sh run    [--dir DIR]   prepare, print bootstrap=..., then exec the broker in the
#                                          foreground (src/kafka/broker.ts uses this: the broker
#                                          is then its child, killed by pid)
#   scripts/kafka.sh fetch                only fetch the jars
#
# The jars (kafka_2.13 3.9.1 and its run-time dependencies) come from Maven Central with
# `mvn dependency:copy-dependencies` (scripts/kafka/pom.xml) into .cache/kafka/libs, once. The
# broker's data, config, ports, pid and log live in DIR (default .strata/kafka); a second start
# reuses them (same ports, same data). Java 17 and Maven must be on the PATH.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${STRATA_KAFKA_CACHE:-$ROOT/.cache/kafka}
LIBS=$CACHE/libs
COMMAND=${1:-status}
shift || true
DIR=$ROOT/.strata/kafka
while [ $# -gt 0 ]; do
  case $1 in
    --dir) DIR=$2; shift 2 ;;
    *) echo "kafka.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
READY_TIMEOUT_S=90
# A small heap, serial GC and C1 only: the broker starts in ~3 s and leaves CPU for the tests.
JAVA_OPTS=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$DIR/log4j.properties" -cp "$LIBS/*")

fetch() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  mkdir -p "$CACHE"
  # Test files start brokers in parallel: one fetches while the others wait on the lock.
  exec 9>"$CACHE/.fetch.lock"
  flock 9
  if [ ! -f "$LIBS/.complete" ]; then
    command -v mvn >/dev/null || { echo "kafka.sh: mvn is not installed" >&2; exit 1; }
    echo "kafka.sh: fetching the Kafka 3.9.1 jars into $LIBS (once)" >&2
    rm -rf "$LIBS.tmp"
    mvn -q -B -f "$ROOT/scripts/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2
    rm -rf "$LIBS"
    mv "$LIBS.tmp" "$LIBS"
    touch "$LIBS/.complete"
  fi
  flock -u 9
  exec 9>&-
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{
    console.log(s.address().port);s.close();});'
}

# prepare writes the config (first time: with fresh ports) and formats the storage once.
prepare() {
  fetch
  if [ ! -f "$DIR/ports" ]; then
    echo "$(free_port) $(free_port)" > "$DIR/ports"
  fi
  read -r PORT CONTROLLER_PORT < "$DIR/ports"
  cat > "$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
auto.create.topics.enable=true
log.retention.hours=24
log.segment.bytes=67108864
EOF
  cat > "$DIR/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/broker.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
EOF
  if [ ! -f "$DIR/data/meta.properties" ]; then
    local id
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" \
      > "$DIR/format.log" 2>&1 || { cat "$DIR/format.log" >&2; exit 1; }
  fi
}


running_pid() {
  [ -f "$DIR/pid" ] || return 1
  local pid
  pid=$(cat "$DIR/pid")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case $COMMAND in
  fetch) fetch ;;
  run)
    prepare
    echo "bootstrap=127.0.0.1:$PORT"
    echo $$ > "$DIR/pid"
    # exec: the broker keeps this shell's pid, so the pid file and the caller's child are it.
    exec java "${JAVA_OPTS[@]}" kafka.Kafka "$DIR/server.properties"
    ;;
  start)
    if pid=$(running_pid); then
      read -r PORT _ < "$DIR/ports"
      echo "kafka.sh: already running (pid $pid)" >&2
      echo "bootstrap=127.0.0.1:$PORT"
      exit 0
    fi
    prepare
    nohup bash "$0" run --dir "$DIR" > "$DIR/stdout.log" 2>&1 &
    echo $! > "$DIR/pid"
    for _ in $(seq 1 $((READY_TIMEOUT_S * 5))); do
      if answers "$PORT"; then echo "bootstrap=127.0.0.1:$PORT"; exit 0; fi
      if ! running_pid >/dev/null; then
        echo "kafka.sh: the broker exited; see $DIR/stdout.log and $DIR/broker.log" >&2
        tail -20 "$DIR/stdout.log" >&2 || true
        exit 1
      fi
      sleep 0.2
    done
    echo "kafka.sh: the broker did not answer on port $PORT within ${READY_TIMEOUT_S}s" >&2
    exit 1
    ;;
  stop)
    if ! pid=$(running_pid); then echo "kafka.sh: not running"; rm -f "$DIR/pid"; exit 0; fi
    kill -TERM "$pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || { rm -f "$DIR/pid"; echo "kafka.sh: stopped"; exit 0; }
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DIR/pid"
    echo "kafka.sh: killed (it did not stop within 20 s)"
    ;;
  status)
    if pid=$(running_pid); then
      read -r PORT _ < "$DIR/ports"
      echo "running pid=$pid bootstrap=127.0.0.1:$PORT dir=$DIR"
    else
      echo "stopped dir=$DIR"
      exit 3
    fi
    ;;
  *) echo "usage: kafka.sh start|stop|status|run|fetch [--dir DIR]" >&2; exit 2 ;;
esac
