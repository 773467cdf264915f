#!/usr/bin/env bash
# make cluster: a local capstream cluster on loopback — three NATS servers
# with JetStream (nats-server built from the Go module proxy, the version
# go.mod pins) and two capstream replicas on ports 8081 and 8082 behind no
# balancer, with the development policy and tokens for alice and bob printed
# as dev mode prints them. Ctrl-C stops everything. See docs/cluster.md.
#
# CLUSTER_DIR (default .capstream-cluster) holds logs, stores and secrets;
# CLUSTER_PORT_OFFSET (default 0) is added to every port below, to run it
# beside another.
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-go}
DIR=${CLUSTER_DIR:-.capstream-cluster}
O=${CLUSTER_PORT_OFFSET:-0}
mkdir -p "$DIR" bin
$GO build -o bin/capstream ./cmd/runtime
$GO build -o bin/nats-server github.com/nats-io/nats-server/v2

pids=()
stop() {
	trap - INT TERM EXIT
	[ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# Three NATS nodes: clients on 4222-4224, routes on 6222-6224, monitoring
# on 8222-8224. max_payload must hold a 1 MiB output and its envelope.
for i in 1 2 3; do
	cat > "$DIR/nats-$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((O + 4221 + i))
http: 127.0.0.1:$((O + 8221 + i))
max_payload: 4MB
jetstream { store_dir: "$DIR/nats-$i" }
cluster {
  name: capstream
  listen: 127.0.0.1:$((O + 6221 + i))
  routes: [nats://127.0.0.1:$((O + 6222)), nats://127.0.0.1:$((O + 6223)), nats://127.0.0.1:$((O + 6224))]
}
CONF
	bin/nats-server -c "$DIR/nats-$i.conf" > "$DIR/nats-$i.log" 2>&1 &
	pids+=($!)
done

[ -s "$DIR/jwt-secret" ] || head -c 32 /dev/urandom > "$DIR/jwt-secret"
[ -s "$DIR/cluster-secret" ] || head -c 32 /dev/urandom > "$DIR/cluster-secret"
cp internal/policy/dev.yaml "$DIR/policy.yaml"
urls=nats://127.0.0.1:$((O + 4222)),nats://127.0.0.1:$((O + 4223)),nats://127.0.0.1:$((O + 4224))

for r in 1 2; do
	bin/capstream serve --addr 127.0.0.1:$((O + 8080 + r)) --plugins plugins/wasm --policy "$DIR/policy.yaml" \
		--data-dir "$DIR/replica-$r" --jwt-secret-file "$DIR/jwt-secret" \
		--cluster "$urls" --cluster-secret-file "$DIR/cluster-secret" --node-id "replica-$r" \
		--metrics-addr 127.0.0.1:$((O + 9090 + r)) > "$DIR/replica-$r.log" 2>&1 &
	pids+=($!)
done
for r in 1 2; do
	for _ in $(seq 600); do
		curl -fs "http://127.0.0.1:$((O + 8080 + r))/readyz" > /dev/null && break
		sleep 0.2
	done
	curl -fs "http://127.0.0.1:$((O + 8080 + r))/readyz" > /dev/null || { echo "replica $r did not start:"; tail -n 20 "$DIR/replica-$r.log"; exit 1; }
done

alice=$(bin/capstream token --sub alice --role analyst --secret-file "$DIR/jwt-secret" --ttl 12h)
bob=$(bin/capstream token --sub bob --role guest --secret-file "$DIR/jwt-secret" --ttl 12h)
cat <<BANNER

capstream cluster: 2 replicas on 3 NATS nodes (JetStream, R3), logs in $DIR/
  replica-1  http://127.0.0.1:$((O + 8081))   metrics http://127.0.0.1:$((O + 9091))/metrics
  replica-2  http://127.0.0.1:$((O + 8082))   metrics http://127.0.0.1:$((O + 9092))/metrics
  NATS       $urls

  export ALICE=$alice   # role analyst
  export BOB=$bob   # role guest

Start a call on one replica and follow it on the other:
  ID=\$(curl -s -X POST -H "Authorization: Bearer \$ALICE" 'http://127.0.0.1:$((O + 8081))/v1/tools/slow/calls?detach=1' \\
        -H 'Content-Type: application/json' -d '{"steps":10,"delayMs":500}' | sed 's/.*"callId":"\\([^"]*\\)".*/\\1/')
  curl -N -H "Authorization: Bearer \$ALICE" http://127.0.0.1:$((O + 8082))/v1/calls/\$ID/events

Kill replica 1 (kill -9) while a call runs on it: replica 2 ends the call with
call.failed node_lost within the lease (12s). Ctrl-C stops the cluster.
BANNER
# Until Ctrl-C: a replica or node that dies (kill -9, to watch node_lost)
# leaves the others running.
wait || true
