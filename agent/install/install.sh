#!/usr/bin/env bash
# Installs (or updates) the rsqlo agent on an Amazon Linux 2023 EC2 host. Idempotent: run it again
# with the same arguments to update the code; running jobs survive the daemon restart.
#
#   sudo agent/install/install.sh \
#     --region us-east-1 --event-bus rsqlo --secret-id blog-secret \
#     --script-path /home/ec2-user/blog_test/rsql_scripts/ \
#     --log-path /home/ec2-user/blog_test/logs/
#
# Options (defaults in brackets):
#   --region R            AWS region of the bus, state machine, log group and secret (required)
#   --event-bus NAME      the rsqlo EventBridge bus (required)
#   --secret-id ID        Secrets Manager secret with the Redshift credentials (the seed's redshift_secret_id)
#   --script-path DIR     where the RSQL scripts are (the seed's rsql_script_path) (required)
#   --log-path DIR        where job logs go (the seed's rsql_log_path) (required)
#   --log-group NAME      CloudWatch Logs group [/ops/rsql-logs/]
#   --max-concurrency N   jobs at once on this host [4]
#   --spool DIR           the agent's spool [/var/spool/rsqlo]
#   --user NAME           user the daemon and the jobs run as [rsqlo; created if missing]
#   --rsql PATH           the RSQL program for .sql scripts [rsql from PATH]
#   --source DIR          the rsqlo package to install [the checkout this script is in]
#   --prefix DIR          where the package goes [/opt/rsqlo]
#   --no-start            install and enable, but do not (re)start the daemon
set -euo pipefail

readonly CONFIG_DIR=/etc/rsqlo
readonly CONFIG_FILE=${CONFIG_DIR}/agent.json
readonly UNIT_FILE=/etc/systemd/system/rsqlo-agent.service

region=""
event_bus=""
secret_id=""
script_path=""
log_path=""
log_group="/ops/rsql-logs/"
max_concurrency="4"
spool="/var/spool/rsqlo"
run_user="rsqlo"
rsql=""
prefix="/opt/rsqlo"
start="yes"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "${here}/../.." && pwd)"

die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

log() {
  printf '==> %s\n' "$*"
}

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || die "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) need_value "$@"; region="$2"; shift 2 ;;
    --event-bus) need_value "$@"; event_bus="$2"; shift 2 ;;
    --secret-id) need_value "$@"; secret_id="$2"; shift 2 ;;
    --script-path) need_value "$@"; script_path="$2"; shift 2 ;;
    --log-path) need_value "$@"; log_path="$2"; shift 2 ;;
    --log-group) need_value "$@"; log_group="$2"; shift 2 ;;
    --max-concurrency) need_value "$@"; max_concurrency="$2"; shift 2 ;;
    --spool) need_value "$@"; spool="$2"; shift 2 ;;
    --user) need_value "$@"; run_user="$2"; shift 2 ;;
    --rsql) need_value "$@"; rsql="$2"; shift 2 ;;
    --source) need_value "$@"; source_dir="$2"; shift 2 ;;
    --prefix) need_value "$@"; prefix="$2"; shift 2 ;;
    --no-start) start="no"; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

[[ $EUID -eq 0 ]] || die "run as root (sudo)"
[[ -n "$region" ]] || die "--region is required"
[[ -n "$event_bus" ]] || die "--event-bus is required"
[[ -n "$script_path" ]] || die "--script-path is required"
[[ -n "$log_path" ]] || die "--log-path is required"
[[ "$script_path" == /* && "$log_path" == /* && "$spool" == /* && "$prefix" == /* ]] ||
  die "--script-path, --log-path, --spool and --prefix must be absolute paths"
[[ "$max_concurrency" =~ ^[1-9][0-9]*$ ]] || die "--max-concurrency must be a positive integer"
[[ -f "${source_dir}/package.json" ]] || die "no rsqlo package in ${source_dir} (use --source)"
[[ "$prefix" != "/" ]] || die "--prefix must not be /"

# --- Node.js 20 or later -----------------------------------------------------------------------
node_major() {
  "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0
}

find_node() {
  local candidate
  for candidate in node node-22 node-20; do
    if command -v "$candidate" >/dev/null 2>&1 && [[ "$(node_major "$candidate")" -ge 20 ]]; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

if ! node_bin="$(find_node)"; then
  log "installing Node.js 20 with dnf"
  dnf install -y nodejs20 nodejs20-npm
  node_bin="$(find_node)" || die "Node.js 20+ is still not on PATH after dnf install"
fi
npm_bin=""
for candidate in npm npm-22 npm-20; do
  if command -v "$candidate" >/dev/null 2>&1; then
    npm_bin="$(command -v "$candidate")"
    break
  fi
done
[[ -n "$npm_bin" ]] || die "npm not found (dnf install nodejs20-npm)"
log "using $("$node_bin" --version) at ${node_bin}"

# --- the user jobs run as ---------------------------------------------------------------------
if ! id -u "$run_user" >/dev/null 2>&1; then
  log "creating system user ${run_user}"
  useradd --system --create-home --home-dir "/var/lib/${run_user}" --shell /sbin/nologin "$run_user"
fi
run_group="$(id -gn "$run_user")"

# --- the package -------------------------------------------------------------------------------
stage="${prefix}.new"
log "installing the rsqlo package from ${source_dir} into ${prefix}"
rm -rf "$stage"
mkdir -p "$stage"
tar -C "$source_dir" \
  --exclude=./node_modules --exclude=./.git --exclude=./cdk.out --exclude=./.rsqlo \
  -cf - . | tar -C "$stage" -xf -
(cd "$stage" && "$npm_bin" ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
# The agent's entry points, bundled once now (as root) so that neither submit nor the daemon has
# to write into the install folder.
"$node_bin" --input-type=module -e "
  const m = await import('${stage}/bin/load.js');
  for (const e of ['agent/main.ts', 'host/spawner.ts']) if (!m.bundledPath(e)) throw new Error('cannot bundle ' + e);
"
if [[ -d "$prefix" ]]; then
  rm -rf "${prefix}.old"
  mv "$prefix" "${prefix}.old"
fi
mv "$stage" "$prefix"
rm -rf "${prefix}.old"
cat >"${prefix}/bin/rsqlo-agent" <<WRAPPER
#!/bin/sh
# rsqlo-agent, installed by agent/install/install.sh: the package's bin/rsqlo-agent.js on Node ${node_bin}.
exec "${node_bin}" "${prefix}/bin/rsqlo-agent.js" "\$@"
WRAPPER
chmod 0755 "${prefix}/bin/rsqlo-agent"
chmod -R go-w "$prefix"

# --- folders and config ------------------------------------------------------------------------
install -d -m 0700 -o "$run_user" -g "$run_group" "$spool"
install -d -m 0750 -o "$run_user" -g "$run_group" "$log_path"
install -d -m 0755 "$CONFIG_DIR"
if ! runuser -u "$run_user" -- test -r "$script_path"; then
  printf 'install.sh: warning: %s is not readable by %s; jobs will fail until it is\n' "$script_path" "$run_user" >&2
fi

log "writing ${CONFIG_FILE}"
config_tmp="$(mktemp "${CONFIG_DIR}/.agent.json.XXXXXX")"
RSQLO_REGION="$region" RSQLO_BUS="$event_bus" RSQLO_SECRET="$secret_id" RSQLO_SCRIPTS="$script_path" \
  RSQLO_LOGS="$log_path" RSQLO_LOG_GROUP="$log_group" RSQLO_MAX="$max_concurrency" RSQLO_SPOOL="$spool" \
  RSQLO_RSQL="$rsql" "$node_bin" -e '
    const e = process.env;
    const config = {
      region: e.RSQLO_REGION,
      eventBusName: e.RSQLO_BUS,
      ...(e.RSQLO_SECRET ? { redshiftSecretId: e.RSQLO_SECRET } : {}),
      scriptRoot: e.RSQLO_SCRIPTS,
      logDir: e.RSQLO_LOGS,
      logGroup: e.RSQLO_LOG_GROUP,
      spoolDir: e.RSQLO_SPOOL,
      maxConcurrency: Number(e.RSQLO_MAX),
      ...(e.RSQLO_RSQL ? { rsqlCommand: [e.RSQLO_RSQL] } : {}),
    };
    process.stdout.write(JSON.stringify(config, null, 2) + "\n");
  ' >"$config_tmp"
chown "root:${run_group}" "$config_tmp"
chmod 0640 "$config_tmp"
if ! "${prefix}/bin/rsqlo-agent" check-config --config "$config_tmp"; then
  rm -f "$config_tmp"
  die "the generated config is invalid (see above)"
fi
mv "$config_tmp" "$CONFIG_FILE"

# --- the service -------------------------------------------------------------------------------
log "installing ${UNIT_FILE}"
sed -e "s|^User=.*|User=${run_user}|" -e "s|^Group=.*|Group=${run_group}|" \
  -e "s|/opt/rsqlo/|${prefix}/|g" \
  "${prefix}/agent/install/rsqlo-agent.service" >"${UNIT_FILE}.tmp"
chmod 0644 "${UNIT_FILE}.tmp"
mv "${UNIT_FILE}.tmp" "$UNIT_FILE"
systemctl daemon-reload
systemctl enable rsqlo-agent.service
if [[ "$start" == "yes" ]]; then
  # KillMode=process: running jobs go on and the new daemon adopts them.
  systemctl restart rsqlo-agent.service
  log "rsqlo-agent is running: journalctl -u rsqlo-agent -f"
else
  log "installed; start it with: systemctl start rsqlo-agent"
fi
