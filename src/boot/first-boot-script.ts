// The first-boot script: fetched by the installer during the install, run once by systemd on the installed
// host's first boot (proxmox.md §4). It phones home with its IP and a hardware id.

/**
 * How long the first-boot script keeps trying to phone home before it exits 1 (systemd then runs it again at the next
 * boot): 15 minutes covers a slow network start and a restart of this service, and ends well inside the phone-home
 * stage timeout (`timeouts.phone_home`, 30 minutes by default), so a host that cannot reach us is seen timing out.
 */
export const firstBootDeadlineSeconds = 15 * 60;

/** What the first-boot script needs. */
export interface FirstBootScriptInput {
  hostname: string; // pve-ms-03
  phoneHomeUrl: string; // http://192.168.1.100:8080/api/hosts/42/phone-home?token=…
  serverHost: string; // 192.168.1.100: the script reports the address it uses to reach this
  deadlineSeconds: number; // 900: give up (exit 1, systemd retries next boot) after this long
}

function sq(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Returns the POSIX sh first-boot script with the phone-home URL (and its token) baked in. */
export function renderFirstBootScript(i: FirstBootScriptInput): string {
  return `#!/bin/sh
# Provisioning first-boot script for ${i.hostname}: reports this host's address and hardware id once.
# systemd runs it once (proxmox-first-boot); a non-zero exit leaves it pending, so it runs again at the next boot.
URL=${sq(i.phoneHomeUrl)}
SERVER=${sq(i.serverHost)}
DEADLINE="\${PHONE_HOME_DEADLINE:-${i.deadlineSeconds}}"

# The management address: the source address this host uses to reach the provisioning server.
server_ip() {
  case "$SERVER" in
    *[!0-9.]*) getent ahostsv4 "$SERVER" 2>/dev/null | awk 'NR==1 {print $1}' ;;
    *) echo "$SERVER" ;;
  esac
}
ip_address() {
  target=$(server_ip)
  [ -n "$target" ] || return 0
  ip -4 route get "$target" 2>/dev/null | sed -n 's/.* src \\([0-9.]*\\).*/\\1/p' | head -n 1
}
hardware_id() {
  if [ -r /sys/class/dmi/id/product_uuid ]; then tr -d ' \\n' < /sys/class/dmi/id/product_uuid
  elif [ -r /etc/machine-id ]; then tr -d ' \\n' < /etc/machine-id
  fi
}
post() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -m 20 -o /dev/null -H 'Content-Type: application/json' --data "$1" "$URL"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 20 -O /dev/null --header='Content-Type: application/json' --post-data="$1" "$URL"
  else
    echo "provisioning: neither curl nor wget is installed" >&2
    return 1
  fi
}

start=$(date +%s)
delay=2
while :; do
  ip=$(ip_address)
  if [ -n "$ip" ]; then
    body=$(printf '{"ip":"%s","hardware_id":"%s"}' "$ip" "$(hardware_id)")
    if post "$body"; then
      echo "provisioning: phoned home as $ip"
      exit 0
    fi
  else
    echo "provisioning: no IPv4 route to the provisioning server yet" >&2
  fi
  now=$(date +%s)
  if [ $((now - start + delay)) -gt "$DEADLINE" ]; then
    echo "provisioning: could not phone home within \${DEADLINE}s; will try again at the next boot" >&2
    exit 1
  fi
  sleep "$delay"
  delay=$((delay * 2))
  [ "$delay" -gt 60 ] && delay=60
done
`;
}
