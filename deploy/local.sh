#!/usr/bin/env bash
# The local default: a simulated cloud (private engine + registry + the
# cloud simulator), one sockerless backend and the frontend, all on this
# machine, all on loopback.
#
#   deploy/local.sh up [BACKEND]   start (default backend: ecs; or lambda,
#                                  cloudrun, gcf, aca, azfunc), print DOCKER_HOST
#   deploy/local.sh down           stop everything and clean up
#   deploy/local.sh env            print the export line of a running stack
#   deploy/local.sh restart-backend [BACKEND]   restart (or swap) the backend
#   deploy/local.sh restart-frontend   start the frontend again (after a kill)
#
# Environment: SK_RUN (run directory, default /tmp/sockerless-local),
# SK_REGISTRY_PORT (default 35000), SK_SIM_PORT (default 35001: the AWS
# simulator), SK_GCP_SIM_PORT (default SK_SIM_PORT+1: the GCP simulator),
# SK_GCP_AR_PORT (SK_SIM_PORT+2: its Artifact Registry host),
# SK_CALLBACK_PORT (SK_SIM_PORT+3: the GCP backends' agent callback
# listener), SK_AZ_SIM_PORT (SK_SIM_PORT+4: the Azure simulator: ARM,
# Entra ID, managed identity, Log Analytics), SK_AZ_ACR_PORT (SK_SIM_PORT+5:
# its Azure Container Registry host); all of them are kept in
# $SK_RUN/ports.env. The GCP simulator's service-account key file is
# $SK_RUN/gcp/sa-key.json; the Azure simulator's credentials (AZURE_TENANT_ID,
# AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST, ...) are in the
# shell env file $SK_RUN/azure/creds.env, the key of its volume storage
# account sockerlessvols in $SK_RUN/azure/storage-key (its share and
# environment storage sockerless-shared are $SK_RUN/shared).
# BUILD (binaries directory, default build, or the one the stack was
# brought up with), SK_ECS_AGENT (0: run ECS
# tasks without the agent; default 1 when BUILD has sockerless-agent),
# SK_WRAP (a command prefix for the daemons, e.g. valgrind and its options),
# SK_ACA_JOB_IDLE and SK_ACA_AGENT_IMAGE (the aca backend's job_idle and
# agent_image, for its tests), SK_SIM_CALL_LOG_DIR (at up: each simulator
# logs every call it serves to aws.jsonl, gcp.jsonl, azure.jsonl there, in
# its cloud's IAM names; tests/deploy/check_policies.py reads them).
#
# Volumes: the simulator has one EFS file system (ecs.efs_filesystem_id),
# backed by $SK_RUN/efs/<fs-id>; its id is in $SK_RUN/efs-id and
# $SK_RUN/efs.env (SK_EFS_FILESYSTEM_ID, SK_EFS_DIR). $SK_RUN/shared links
# to its /shared, the backend's shared_paths prefix ($SK_RUN/shared=/shared);
# docker_socket_paths and docker_api name $SK_RUN/docker.sock.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${SK_RUN:-/tmp/sockerless-local}
# A running stack remembers its ports and its build (a restarted backend of
# an ASan stack stays ASan), so later commands need only SK_RUN; BUILD given
# explicitly still wins.
BUILD_ARG=${BUILD:-}
SK_STACK_BUILD=
if [ -f "$RUN/ports.env" ]; then
	# shellcheck disable=SC1091
	. "$RUN/ports.env"
fi
BUILD=${BUILD_ARG:-${SK_STACK_BUILD:-build}}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
export SK_REGISTRY_PORT=${SK_REGISTRY_PORT:-35000}
SIM_PORT=${SK_SIM_PORT:-35001}
# All three simulators always run, so restart-backend swaps among the AWS,
# GCP and Azure backends under one frontend.
export SK_GCP_SIM_PORT=${SK_GCP_SIM_PORT:-$((SIM_PORT + 1))}
export SK_GCP_AR_PORT=${SK_GCP_AR_PORT:-$((SIM_PORT + 2))}
export SK_CALLBACK_PORT=${SK_CALLBACK_PORT:-$((SIM_PORT + 3))}
export SK_AZ_SIM_PORT=${SK_AZ_SIM_PORT:-$((SIM_PORT + 4))}
export SK_AZ_ACR_PORT=${SK_AZ_ACR_PORT:-$((SIM_PORT + 5))}
GCP_PROJECT=sockerless-local
GCP_REGION=us-central1
# The Cloud Storage bucket of the Cloud Run backend's volumes.
GCP_VOLUME_BUCKET=sockerless-volumes
AZ_SUBSCRIPTION=6a2bd1a0-0000-4000-8000-00000000a5c1
AZ_TENANT=7f3c9b0e-0000-4000-8000-0000000071d1
AZ_RESOURCE_GROUP=sockerless
AZ_LOCATION=westeurope
PY=/usr/bin/python3
REGION=us-east-1
ACCOUNT=123456789012
AKID=AKIDSOCKERLESSTEST
SECRET=sockerless-test-secret

die() { echo "local: $*" >&2; exit 1; }

# Waits up to $2 seconds for command $1 to succeed.
wait_for() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		if eval "$1" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	return 1
}

stop_pid() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

start_sim() {
	# shellcheck disable=SC1091
	. "$RUN/bed/bed.env"
	if ! curl -sf "http://127.0.0.1:$SIM_PORT/_sim/health" >/dev/null 2>&1; then
		SK_SIM_CALL_LOG=${SK_SIM_CALL_LOG_DIR:+$SK_SIM_CALL_LOG_DIR/aws.jsonl} \
			"$PY" "$ROOT/tests/sim/aws/awssim.py" --port "$SIM_PORT" \
			--engine "$SK_SIM_ENGINE_HOST" --registry "$SK_REGISTRY" \
			--region "$REGION" --account "$ACCOUNT" \
			--access-key "$AKID" --secret-key "$SECRET" \
			--state-dir "$RUN/sim" --vpc-id vpc-0local --subnet-id subnet-0local \
			--security-group-id sg-0local --default-group-ingress none \
			--efs-dir "$RUN/efs" >"$RUN/awssim.log" 2>&1 &
		echo $! >"$RUN/awssim.pid"
		wait_for "curl -sf http://127.0.0.1:$SIM_PORT/_sim/health" 30 ||
			die "the AWS simulator did not start; see $RUN/awssim.log"
	fi
	"$PY" "$ROOT/deploy/local-provision.py" --endpoint "http://127.0.0.1:$SIM_PORT" \
		--region "$REGION" --access-key "$AKID" --secret-key "$SECRET" \
		--efs-out "$RUN/efs-id"
	link_shared
}

# The GCP simulator (tests/sim/gcp) on the same engine and registry: its
# API on SK_GCP_SIM_PORT, the Artifact Registry host on SK_GCP_AR_PORT, the
# key file the GCP backends authenticate with in $RUN/gcp/sa-key.json.
start_gcp_sim() {
	# shellcheck disable=SC1091
	. "$RUN/bed/bed.env"
	mkdir -p "$RUN/gcp"
	local try
	# A port of the window can be briefly held by some client's outgoing
	# connection (it lies in the ephemeral range): a bind failure is tried
	# again, anything else is fatal.
	for try in 1 2 3; do
		if curl -sf "http://127.0.0.1:$SK_GCP_SIM_PORT/_sim/health" >/dev/null 2>&1; then
			return 0
		fi
		SK_SIM_CALL_LOG=${SK_SIM_CALL_LOG_DIR:+$SK_SIM_CALL_LOG_DIR/gcp.jsonl} \
			"$PY" "$ROOT/tests/sim/gcp/gcpsim.py" --port "$SK_GCP_SIM_PORT" \
			--engine "$SK_SIM_ENGINE_HOST" --registry "$SK_REGISTRY" \
			--project "$GCP_PROJECT" --region "$GCP_REGION" \
			--state-dir "$RUN/gcp/sim" --ar-port "$SK_GCP_AR_PORT" \
			--bucket "$GCP_VOLUME_BUCKET" \
			--key-out "$RUN/gcp/sa-key.json" >>"$RUN/gcpsim.log" 2>&1 &
		echo $! >"$RUN/gcpsim.pid"
		# (ends early when the simulator exits)
		wait_for "curl -sf http://127.0.0.1:$SK_GCP_SIM_PORT/_sim/health || ! kill -0 $(cat "$RUN/gcpsim.pid")" 60 || true
		if curl -sf "http://127.0.0.1:$SK_GCP_SIM_PORT/_sim/health" >/dev/null 2>&1; then
			return 0
		fi
		stop_pid "$RUN/gcpsim.pid"
		grep -q "Address already in use" "$RUN/gcpsim.log" || break
		echo "local: the GCP simulator's port was taken (try $try); trying again" >&2
		sleep 2
	done
	die "the GCP simulator did not start; see $RUN/gcpsim.log"
}

# The Azure simulator (tests/sim/azure) on the same engine and registry: its
# API on SK_AZ_SIM_PORT (every Azure endpoint by path), the Azure Container
# Registry host on SK_AZ_ACR_PORT, the credentials env file in
# $RUN/azure/creds.env.
start_az_sim() {
	# shellcheck disable=SC1091
	. "$RUN/bed/bed.env"
	mkdir -p "$RUN/azure"
	local try
	# (a bind failure is tried again, as for the GCP simulator)
	for try in 1 2 3; do
		if curl -sf "http://127.0.0.1:$SK_AZ_SIM_PORT/_sim/health" >/dev/null 2>&1; then
			return 0
		fi
		# Azure Files (azuresim_storage): the volume account's key for the
		# aca backend's storage_account_key_file, and the share and
		# environment storage sockerless-shared that are $RUN/shared.
		SK_SIM_CALL_LOG=${SK_SIM_CALL_LOG_DIR:+$SK_SIM_CALL_LOG_DIR/azure.jsonl} \
			AZURESIM_STORAGE_KEY_OUT="$RUN/azure/storage-key" \
			AZURESIM_SHARED_DIR="$(readlink -f "$RUN/shared" 2>/dev/null || echo "$RUN/shared")" \
			"$PY" "$ROOT/tests/sim/azure/azuresim.py" --port "$SK_AZ_SIM_PORT" \
			--engine "$SK_SIM_ENGINE_HOST" --registry "$SK_REGISTRY" \
			--subscription "$AZ_SUBSCRIPTION" --resource-group "$AZ_RESOURCE_GROUP" \
			--location "$AZ_LOCATION" --tenant "$AZ_TENANT" \
			--state-dir "$RUN/azure/sim" --acr-port "$SK_AZ_ACR_PORT" \
			--creds-out "$RUN/azure/creds.env" >>"$RUN/azuresim.log" 2>&1 &
		echo $! >"$RUN/azuresim.pid"
		# (ends early when the simulator exits)
		wait_for "curl -sf http://127.0.0.1:$SK_AZ_SIM_PORT/_sim/health || ! kill -0 $(cat "$RUN/azuresim.pid")" 60 || true
		if curl -sf "http://127.0.0.1:$SK_AZ_SIM_PORT/_sim/health" >/dev/null 2>&1; then
			return 0
		fi
		stop_pid "$RUN/azuresim.pid"
		grep -q "Address already in use" "$RUN/azuresim.log" || break
		echo "local: the Azure simulator's port was taken (try $try); trying again" >&2
		sleep 2
	done
	die "the Azure simulator did not start; see $RUN/azuresim.log"
}

# The volumes' file system is $RUN/efs/<fs-id> (the simulator's backing
# directory); $RUN/shared stands for the operator's mount of its /shared on
# the runner host, the shared_paths prefix.
link_shared() {
	local fs
	fs=$(cat "$RUN/efs-id")
	mkdir -p "$RUN/efs/$fs/shared"
	ln -sfn "$RUN/efs/$fs/shared" "$RUN/shared"
	printf 'SK_EFS_FILESYSTEM_ID=%s\nSK_EFS_DIR=%s\n' "$fs" "$RUN/efs/$fs" >"$RUN/efs.env"
}

# Whether backend binary $1 knows configuration key $2 (dotted: ecs.x), as
# its --help lists it (the volume and docker.sock keys arrive with the
# volumes work; a configuration with an unknown key is refused).
knows_key() {
	local help
	help=$("$1" --help 2>&1) || true
	grep -qF -- "--$2=" <<<"$help"
}

# The framework's volume and docker.sock settings of the local default, each
# written only when backend binary $1 has the key.
write_volume_config() {
	local bin=$1
	if knows_key "$bin" shared_paths; then
		echo "shared_paths: [$RUN/shared=/shared]"
	fi
	if knows_key "$bin" docker_socket_paths; then
		echo "docker_socket_paths: [/var/run/docker.sock, /run/docker.sock, $RUN/docker.sock]"
	fi
	if knows_key "$bin" docker_api; then
		echo "docker_api: unix://$RUN/docker.sock"
	fi
}

# The agent image in the local registry, where the simulated ECS pulls it
# from (its ECR and Docker Hub names map to that registry too).
push_agent_image() {
	local ref="$SK_REGISTRY/sockerless/agent:0.1.0"
	rm -f "$RUN/agent-image"
	if [ "${SK_ECS_AGENT:-1}" = 0 ]; then return 0; fi
	if [ ! -x "$BUILD/sockerless-agent" ]; then
		echo "local: no $BUILD/sockerless-agent: ECS tasks run without the agent" >&2
		return 0
	fi
	"$PY" "$ROOT/deploy/agent-image.py" --agent "$BUILD/sockerless-agent" \
		--push "$ref" >/dev/null 2>>"$RUN/bed.log" ||
		die "pushing the agent image to $SK_REGISTRY failed; see $RUN/bed.log"
	echo "$ref" >"$RUN/agent-image"
}

write_ecs_config() {
	local agent=false image="" bin="$BUILD/sockerless-backend-ecs"
	if [ -s "$RUN/agent-image" ]; then
		agent=true
		image=$(cat "$RUN/agent-image")
	fi
	cat >"$RUN/backend-ecs.yaml" <<EOF
# Written by deploy/local.sh: the ECS backend against the AWS simulator.
# The volumes' EFS file system: $(cat "$RUN/efs-id") (files in $RUN/efs/$(cat "$RUN/efs-id")).
socket: $RUN/backend.sock
state_dir: $RUN/state-ecs
registry_mirrors: [http://$SK_REGISTRY]
$(write_volume_config "$bin")
ecs:
  region: $REGION
  cluster: sockerless
  subnets: [subnet-0local]
  security_groups: [sg-0local]
  execution_role_arn: arn:aws:iam::$ACCOUNT:role/ecsTaskExecutionRole
  endpoint: http://127.0.0.1:$SIM_PORT
  agent: $agent
EOF
	if [ -n "$image" ]; then echo "  agent_image: $image" >>"$RUN/backend-ecs.yaml"; fi
	if knows_key "$bin" ecs.efs_filesystem_id; then
		echo "  efs_filesystem_id: $(cat "$RUN/efs-id")" >>"$RUN/backend-ecs.yaml"
	fi
}

write_lambda_config() {
	cat >"$RUN/backend-lambda.yaml" <<EOF
# Written by deploy/local.sh: the Lambda backend against the AWS simulator.
socket: $RUN/backend.sock
state_dir: $RUN/state-lambda
registry_mirrors: [http://$SK_REGISTRY]
# The simulated ECR registry is the local registry.
registry_endpoints: [$ACCOUNT.dkr.ecr.$REGION.amazonaws.com=http://$SK_REGISTRY]
$(write_volume_config "$BUILD/sockerless-backend-lambda")
lambda:
  region: $REGION
  role_arn: arn:aws:iam::$ACCOUNT:role/sockerless-lambda
  agent_path: $BUILD/sockerless-agent
  endpoint: http://127.0.0.1:$SIM_PORT
EOF
}

write_gcf_config() {
	cat >"$RUN/backend-gcf.yaml" <<EOF
# Written by deploy/local.sh: the gcf backend (Cloud Run functions) against
# the GCP simulator; derived images go to its Artifact Registry host.
socket: $RUN/backend.sock
state_dir: $RUN/state-gcf
registry_mirrors: [http://$SK_REGISTRY]
registry_endpoints: [$GCP_REGION-docker.pkg.dev=http://127.0.0.1:$SK_GCP_AR_PORT]
$(write_volume_config "$BUILD/sockerless-backend-gcf")
gcf:
  project: $GCP_PROJECT
  region: $GCP_REGION
  credentials_file: $RUN/gcp/sa-key.json
  endpoint: http://127.0.0.1:$SK_GCP_SIM_PORT
  agent_path: $BUILD/sockerless-agent
EOF
}

# The azfunc backend against the Azure simulator (Interface W of issue
# 16): function apps on its Elastic Premium plan, derived images pushed to
# its Container Registry host, runs sent to its function host front
# (endpoint_functions) with each site's host name. SK_AZFUNC_PLAN names
# another plan (the tests' Consumption refusal), SK_AZFUNC_TIMEOUT a
# shorter azfunc.timeout (the tests' time limit), SK_AZFUNC_REGISTRY_IDENTITY
# an azfunc.registry_identity (a user-assigned identity's resource id).
write_azfunc_config() {
	# shellcheck disable=SC1091
	. "$RUN/azure/creds.env"
	(umask 077 && printf '%s\n' "$AZURE_CLIENT_SECRET" >"$RUN/azure/client-secret" &&
		printf '%s\n' "${AZURE_SK_WEBJOBS_STORAGE:?the Azure simulator wrote no AZURE_SK_WEBJOBS_STORAGE (it has no Microsoft.Web)}" \
			>"$RUN/azure/webjobs-storage")
	cat >"$RUN/backend-azfunc.yaml" <<EOF
# Written by deploy/local.sh: the azfunc backend against the Azure simulator.
socket: $RUN/backend.sock
state_dir: $RUN/state-azfunc
registry_mirrors: [http://$SK_REGISTRY]
azfunc:
  subscription: $AZ_SUBSCRIPTION
  resource_group: $AZ_RESOURCE_GROUP
  location: $AZ_LOCATION
  tenant_id: $AZURE_TENANT_ID
  client_id: $AZURE_CLIENT_ID
  client_secret_file: $RUN/azure/client-secret
  authority_host: http://127.0.0.1:$SK_AZ_SIM_PORT
  endpoint: http://127.0.0.1:$SK_AZ_SIM_PORT
  endpoint_logs: http://127.0.0.1:$SK_AZ_SIM_PORT
  registry_hosts: 127.0.0.1:$SK_AZ_ACR_PORT
  plan: ${SK_AZFUNC_PLAN:-sockerless-premium}
  storage_connection_file: $RUN/azure/webjobs-storage
  registry: 127.0.0.1:$SK_AZ_ACR_PORT/sockerless
  endpoint_functions: http://127.0.0.1:$SK_AZ_SIM_PORT
  timeout: ${SK_AZFUNC_TIMEOUT:-230}
  agent_path: $BUILD/sockerless-agent
${SK_AZFUNC_REGISTRY_IDENTITY:+  registry_identity: $SK_AZFUNC_REGISTRY_IDENTITY}
EOF
}

# The Cloud Run backend against the GCP simulator (Interface L of issue
# 15): its Artifact Registry host maps to the simulator's registry
# listener, and the agents of the jobs (host networking on the
# simulator's engine) call back over loopback.
write_cloudrun_config() {
	link_shared_gcs
	cat >"$RUN/backend-cloudrun.yaml" <<EOF
# Written by deploy/local.sh: the Cloud Run backend against the GCP simulator.
socket: $RUN/backend.sock
state_dir: $RUN/state-cloudrun
registry_mirrors: [http://$SK_REGISTRY]
registry_endpoints: [$GCP_REGION-docker.pkg.dev=http://127.0.0.1:$SK_GCP_AR_PORT]
agent_callback_listen: 127.0.0.1:$SK_CALLBACK_PORT
agent_callback_url: http://127.0.0.1:$SK_CALLBACK_PORT
$(write_volume_config "$BUILD/sockerless-backend-cloudrun")
cloudrun:
  project: $GCP_PROJECT
  region: $GCP_REGION
  credentials_file: $RUN/gcp/sa-key.json
  endpoint: http://127.0.0.1:$SK_GCP_SIM_PORT
  repository: $GCP_REGION-docker.pkg.dev/$GCP_PROJECT/sockerless
  agent_path: $BUILD/sockerless-agent
  poll_ms: 500
EOF
	if knows_key "$BUILD/sockerless-backend-cloudrun" cloudrun.volume_bucket; then
		echo "  volume_bucket: $GCP_VOLUME_BUCKET" >>"$RUN/backend-cloudrun.yaml"
	fi
}

# The Container Apps backend against the Azure simulator: the service
# principal of $RUN/azure/creds.env (its secret in a file of its own), the
# simulator's pre-made environment, its ACR host taking the token exchange
# (the agent image pushed to the local registry is the same repository
# there), and the jobs' agents (host networking on the simulator's engine)
# calling back over loopback.
write_aca_config() {
	local bin="$BUILD/sockerless-backend-aca"
	# shellcheck disable=SC1091
	. "$RUN/azure/creds.env"
	(umask 077 && printf '%s\n' "$AZURE_CLIENT_SECRET" >"$RUN/azure/client-secret")
	cat >"$RUN/backend-aca.yaml" <<EOF
# Written by deploy/local.sh: the aca backend against the Azure simulator.
socket: $RUN/backend.sock
state_dir: $RUN/state-aca
registry_mirrors: [http://$SK_REGISTRY]
agent_callback_listen: 127.0.0.1:$SK_CALLBACK_PORT
agent_callback_url: http://127.0.0.1:$SK_CALLBACK_PORT
$(write_volume_config "$bin")
aca:
  subscription: $AZ_SUBSCRIPTION
  resource_group: $AZ_RESOURCE_GROUP
  location: $AZ_LOCATION
  tenant_id: $AZURE_TENANT_ID
  client_id: $AZURE_CLIENT_ID
  client_secret_file: $RUN/azure/client-secret
  authority_host: http://127.0.0.1:$SK_AZ_SIM_PORT
  endpoint: http://127.0.0.1:$SK_AZ_SIM_PORT
  endpoint_logs: http://127.0.0.1:$SK_AZ_SIM_PORT
  registry_hosts: 127.0.0.1:$SK_AZ_ACR_PORT
  environment: sockerless-env
  registry_identity: system
  agent_image: ${SK_ACA_AGENT_IMAGE:-127.0.0.1:$SK_AZ_ACR_PORT/sockerless/agent:0.1.0}
  poll_ms: 500
EOF
	# Volumes: Azure Files shares of the simulator's account sockerlessvols
	# (its key written by the simulator), binds under $RUN/shared through
	# the environment storage sockerless-shared that is that directory.
	if knows_key "$bin" aca.storage_account; then
		cat >>"$RUN/backend-aca.yaml" <<EOF
  storage_account: sockerlessvols
  storage_account_key_file: $RUN/azure/storage-key
  shared_storage: sockerless-shared
EOF
	fi
	# (tests: a short job_idle, an agent image that cannot be pulled)
	if [ -n "${SK_ACA_JOB_IDLE:-}" ]; then
		echo "  job_idle: $SK_ACA_JOB_IDLE" >>"$RUN/backend-aca.yaml"
	fi
}

# The volumes' bucket is $RUN/gcp/sim/gcs/$GCP_VOLUME_BUCKET (the
# simulator's backing directory, a gcsfuse view of it in the tasks). Its
# shared/ (the bucket directory of the shared_paths prefix /shared) is the
# directory $RUN/shared already stands for, so a bind under $RUN/shared
# shows the same files on every backend of the stack.
link_shared_gcs() {
	local bucket="$RUN/gcp/sim/gcs/$GCP_VOLUME_BUCKET" target
	target=$(readlink -f "$RUN/shared") || return 0
	mkdir -p "$bucket" "$target"
	if [ -e "$bucket/shared" ] && [ ! -L "$bucket/shared" ]; then
		echo "local: $bucket/shared is a directory; binds under $RUN/shared will not show there" >&2
		return 0
	fi
	ln -sfn "$target" "$bucket/shared"
}

start_backend() {
	local name=$1 bin="$BUILD/sockerless-backend-$1" pid ping
	[ -x "$bin" ] || die "no backend binary $bin (unknown backend '$name'?)"
	stop_pid "$RUN/backend.pid"
	"write_${name}_config"
	# shellcheck disable=SC2086 # SK_WRAP is a command prefix, split on purpose
	AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET \
		${SK_WRAP:-} "$bin" --config "$RUN/backend-$name.yaml" >>"$RUN/backend.log" 2>&1 &
	pid=$!
	echo "$pid" >"$RUN/backend.pid"
	echo "$name" >"$RUN/backend.name"
	# A backend whose start-up check failed has exited: no need to wait
	# out the 30 s.
	ping="curl -sf --unix-socket $RUN/backend.sock http://b/internal/v1/_ping"
	wait_for "! kill -0 $pid || (test -S $RUN/backend.sock && $ping)" 30
	eval "$ping" >/dev/null 2>&1 ||
		die "sockerless-backend-$name did not start; see $RUN/backend.log"
}

start_frontend() {
	if ! curl -sf --unix-socket "$RUN/docker.sock" http://d/_ping >/dev/null 2>&1; then
		# shellcheck disable=SC2086
		${SK_WRAP:-} "$BUILD/sockerless-frontend" --hosts "unix://$RUN/docker.sock" \
			--backend "$RUN/backend.sock" >"$RUN/frontend.log" 2>&1 &
		echo $! >"$RUN/frontend.pid"
		wait_for "curl -sf --unix-socket $RUN/docker.sock http://d/_ping" 30 ||
			die "sockerless-frontend did not start; see $RUN/frontend.log"
	fi
}

up() {
	local backend=${1:-ecs}
	mkdir -p "$RUN"
	printf 'SK_REGISTRY_PORT=%s\nSK_SIM_PORT=%s\nSK_GCP_SIM_PORT=%s\nSK_GCP_AR_PORT=%s\nSK_CALLBACK_PORT=%s\nSK_AZ_SIM_PORT=%s\nSK_AZ_ACR_PORT=%s\nSK_STACK_BUILD=%q\n' \
		"$SK_REGISTRY_PORT" "$SIM_PORT" "$SK_GCP_SIM_PORT" "$SK_GCP_AR_PORT" \
		"$SK_CALLBACK_PORT" "$SK_AZ_SIM_PORT" "$SK_AZ_ACR_PORT" "$BUILD" >"$RUN/ports.env"
	"$ROOT/tests/bed/bed.sh" up "$RUN/bed" >"$RUN/bed.log" 2>&1 ||
		{ tail -20 "$RUN/bed.log" >&2; die "the test bed did not start"; }
	start_sim
	start_gcp_sim
	start_az_sim
	push_agent_image
	start_backend "$backend"
	start_frontend
	echo "local: sockerless ($backend) is up; logs in $RUN" >&2
	echo "export DOCKER_HOST=unix://$RUN/docker.sock"
}

down() {
	stop_pid "$RUN/frontend.pid"
	stop_pid "$RUN/backend.pid"
	stop_pid "$RUN/awssim.pid"
	stop_pid "$RUN/gcpsim.pid"
	stop_pid "$RUN/azuresim.pid"
	# the simulated VPC's namespaces (a simulator killed hard leaves them)
	"$PY" "$ROOT/tests/sim/aws/awssim_net.py" cleanup --owner "$RUN/sim" || true
	# and its tasks' idmapped EFS mounts (awssim_idmap)
	local m
	for m in "$RUN"/sim/efs-mounts/*; do
		if [ -d "$m" ]; then umount -l "$m" 2>/dev/null || true; fi
	done
	if [ -d "$RUN/bed" ]; then
		"$ROOT/tests/bed/bed.sh" down "$RUN/bed" >/dev/null 2>&1 || true
	fi
	if [ -z "${SK_KEEP_RUN:-}" ]; then rm -rf "$RUN"; fi
	echo "local: stopped" >&2
}

# Restarts the backend with its configuration and state: what an operator's
# service manager does, and what the re-adoption test exercises.
restart_backend() {
	local name
	name=$(cat "$RUN/backend.name" 2>/dev/null) || die "nothing is running in $RUN"
	# shellcheck disable=SC1091
	. "$RUN/bed/bed.env"
	start_backend "${1:-$name}"
	echo "local: backend ${1:-$name} restarted" >&2
}

# Starts the frontend again, stopping a live one first (the kill drills).
restart_frontend() {
	[ -f "$RUN/backend.name" ] || die "nothing is running in $RUN"
	stop_pid "$RUN/frontend.pid"
	start_frontend
	echo "local: frontend restarted" >&2
}

case "${1:-}" in
up) up "${2:-}" ;;
restart-frontend) restart_frontend ;;
restart-backend) restart_backend "${2:-}" ;;
down) down ;;
env) echo "export DOCKER_HOST=unix://$RUN/docker.sock" ;;
*) die "usage: $0 up [BACKEND] | down | env | restart-backend [BACKEND] | restart-frontend" ;;
esac
