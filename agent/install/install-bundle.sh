# Installs or upgrades the rsqlo agent from its one-file bundle: the steps of the stack's SSM
# association document (infra/constructs/agent-install.ts puts this file, after the lines that set
# the variables below from the document's parameters, into its runCommand). No git, no npm: Node.js
# 20+ (installed with dnf when missing), the AWS CLI (on Amazon Linux 2023 by default) and systemd.
# Running it again with the same bundle, config and unit changes nothing (the daemon keeps
# running); otherwise the daemon is restarted, and running jobs survive (the unit's KillMode=process).
#
# Inputs (environment):
#   RSQLO_AGENT_URI     s3://bucket/key of the bundle (the stack's asset)
#   RSQLO_AGENT_SHA256  its SHA-256: a download that does not match is refused, nothing installed
#   RSQLO_CONFIG_B64    /etc/rsqlo/agent.json, base64
#   RSQLO_RUN_USER      user the daemon and the jobs run as (created when missing)
#   RSQLO_REGION        region of the bucket
#   RSQLO_UNIT_B64      the systemd unit (agent/install/rsqlo-agent.service), base64
#   RSQLO_INSTALL_ROOT  prefix of every path written (tests: a temporary folder); empty on hosts
set -eu
umask 022
root="${RSQLO_INSTALL_ROOT:-}"
prefix="${root}/opt/rsqlo"
config_dir="${root}/etc/rsqlo"
unit_file="${root}/etc/systemd/system/rsqlo-agent.service"

die() {
  printf 'rsqlo agent install: %s\n' "$*" >&2
  exit 1
}

node_major() {
  "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0
}
find_node() {
  for candidate in node node-22 node-20; do
    if command -v "$candidate" >/dev/null 2>&1 && [ "$(node_major "$candidate")" -ge 20 ]; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}
if ! node_bin="$(find_node)"; then
  command -v dnf >/dev/null 2>&1 || die "Node.js 20 or later is required and dnf is not here to install it"
  dnf install -y nodejs20
  node_bin="$(find_node)" || die "Node.js 20+ is still not on PATH after dnf install nodejs20"
fi

if ! id -u "$RSQLO_RUN_USER" >/dev/null 2>&1; then
  useradd --system --create-home --home-dir "/var/lib/${RSQLO_RUN_USER}" --shell /sbin/nologin "$RSQLO_RUN_USER"
fi
run_group="$(id -gn "$RSQLO_RUN_USER")"
# Whether anything changed: the association also runs on a schedule, and a host that is already
# as it should be is left alone (its daemon is not restarted).
changed=no
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
installed="${prefix}/bin/rsqlo-agent.mjs"
if [ ! -f "$installed" ] || [ "$(sha256sum "$installed" | cut -d' ' -f1)" != "$RSQLO_AGENT_SHA256" ]; then
  # Download to a temporary file, check the hash, then move into place: a partial or corrupt
  # download never replaces a working agent.
  aws s3 cp "$RSQLO_AGENT_URI" "$work/rsqlo-agent.mjs" --region "$RSQLO_REGION" --only-show-errors
  got="$(sha256sum "$work/rsqlo-agent.mjs" | cut -d' ' -f1)"
  [ "$got" = "$RSQLO_AGENT_SHA256" ] || die "the bundle's SHA-256 is $got, expected $RSQLO_AGENT_SHA256: not installed"
  "$node_bin" "$work/rsqlo-agent.mjs" help >/dev/null || die "the bundle does not run on $("$node_bin" --version)"
  install -d -m 0755 "${prefix}/bin"
  install -m 0755 "$work/rsqlo-agent.mjs" "${prefix}/bin/.rsqlo-agent.mjs.new"
  mv -f "${prefix}/bin/.rsqlo-agent.mjs.new" "$installed"
  changed=yes
fi
# The command the job document runs (/opt/rsqlo/bin/rsqlo-agent submit): the bundle on this Node.
cat >"$work/wrapper" <<WRAPPER
#!/bin/sh
# rsqlo-agent, installed by the rsqlo stack's SSM association: its one-file bundle on Node.
exec "${node_bin}" "\$(dirname "\$0")/rsqlo-agent.mjs" "\$@"
WRAPPER
if ! cmp -s "$work/wrapper" "${prefix}/bin/rsqlo-agent"; then
  install -m 0755 "$work/wrapper" "${prefix}/bin/.rsqlo-agent.new"
  mv -f "${prefix}/bin/.rsqlo-agent.new" "${prefix}/bin/rsqlo-agent"
  changed=yes
fi

install -d -m 0755 "$config_dir"
config_tmp="$(mktemp "${config_dir}/.agent.json.XXXXXX")"
printf '%s' "$RSQLO_CONFIG_B64" | base64 -d >"$config_tmp"
chown "root:${run_group}" "$config_tmp"
chmod 0640 "$config_tmp"
if ! "${prefix}/bin/rsqlo-agent" check-config --config "$config_tmp" >/dev/null; then
  rm -f "$config_tmp"
  die "the agent configuration is invalid (see above)"
fi
if cmp -s "$config_tmp" "${config_dir}/agent.json"; then
  rm -f "$config_tmp"
else
  mv -f "$config_tmp" "${config_dir}/agent.json"
  changed=yes
fi
# Folders the config names (under the install root in tests).
spool="$("${prefix}/bin/rsqlo-agent" check-config --config "${config_dir}/agent.json" | "$node_bin" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const c=JSON.parse(s);process.stdout.write(c.spoolDir+"\n"+c.logDir+"\n"+c.scriptRoot)})')"
spool_dir="$(printf '%s\n' "$spool" | sed -n 1p)"
log_dir="$(printf '%s\n' "$spool" | sed -n 2p)"
script_dir="$(printf '%s\n' "$spool" | sed -n 3p)"
install -d -m 0700 -o "$RSQLO_RUN_USER" -g "$run_group" "$spool_dir"
install -d -m 0750 -o "$RSQLO_RUN_USER" -g "$run_group" "$log_dir"
install -d -m 0755 "$script_dir"

install -d -m 0755 "$(dirname "$unit_file")"
printf '%s' "$RSQLO_UNIT_B64" | base64 -d |
  sed -e "s|^User=.*|User=${RSQLO_RUN_USER}|" -e "s|^Group=.*|Group=${run_group}|" >"$work/unit"
if ! cmp -s "$work/unit" "$unit_file"; then
  install -m 0644 "$work/unit" "${unit_file}.tmp"
  mv -f "${unit_file}.tmp" "$unit_file"
  systemctl daemon-reload
  changed=yes
fi
# systemd returns from a restart of a Type=simple unit once the process is forked, before the
# daemon has made its spool (the first thing it does): `rsqlo-agent submit` refuses a host without
# one, so wait for it (RSQLO_READY_SECONDS, default 60) and fail the install if it never comes.
wait_ready() {
  waited=0
  while [ ! -d "${spool_dir}/jobs" ]; do
    [ "$waited" -lt "$((${RSQLO_READY_SECONDS:-60} * 10))" ] ||
      die "the daemon did not make its spool ${spool_dir} within ${RSQLO_READY_SECONDS:-60} s: see journalctl -u rsqlo-agent"
    sleep 0.1
    waited=$((waited + 1))
  done
}
systemctl enable rsqlo-agent.service
if [ "$changed" = yes ]; then
  systemctl restart rsqlo-agent.service
  wait_ready
  printf 'rsqlo agent %s installed and (re)started\n' "$RSQLO_AGENT_SHA256"
elif ! systemctl is-active --quiet rsqlo-agent.service; then
  systemctl restart rsqlo-agent.service
  wait_ready
  printf 'rsqlo agent %s was not running: started\n' "$RSQLO_AGENT_SHA256"
else
  printf 'rsqlo agent %s already installed and running: nothing to do\n' "$RSQLO_AGENT_SHA256"
fi
