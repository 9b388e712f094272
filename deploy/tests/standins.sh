#!/usr/bin/env bash
# Local stand-ins for the images deploy/docker-compose.ha.yml names, for machines that cannot
# pull from a registry (CI here): each is a Debian 12 root made by mmdebstrap from Debian's
# packages and imported under the same name, with the entrypoint, user and paths of the
# official image, so the compose file itself stays exactly what operators run.
#   DOCKER_HOST=unix:///… deploy/tests/standins.sh      (idempotent: present images are kept)
set -euo pipefail
docker=${DOCKER:-docker}

have() { $docker image inspect "$1" >/dev/null 2>&1; }

# standin NAME "PACKAGES" HOOK [--change ...]: one image from a Debian root.
standin() {
  local name=$1 packages=$2 hook=$3; shift 3
  have "$name" && return 0
  echo "standins: building $name from Debian packages ($packages)"
  local args=(--variant=apt --quiet --dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-exclude=/usr/share/man/*)
  [ -n "$packages" ] && args+=(--include="$packages")
  [ -n "$hook" ] && args+=(--customize-hook="$hook")
  local tar; tar=$(mktemp --suffix=.tar)
  # Through a file: a failed mmdebstrap must not leave an empty image under the name.
  mmdebstrap "${args[@]}" bookworm "$tar" && $docker import "$@" "$tar" "$name" >/dev/null
  local rc=$?; rm -f "$tar"; return $rc
}

# The base the Dockerfiles build on trusts what this machine trusts (a TLS-inspecting proxy's CA
# in /usr/local/share/ca-certificates), so apt and pip inside `docker build` reach the registries.
base_hook='mkdir -p "$1/usr/local/share/ca-certificates" && cp -r /usr/local/share/ca-certificates/. "$1/usr/local/share/ca-certificates/" && chroot "$1" update-ca-certificates >/dev/null'
standin debian:bookworm-slim "ca-certificates" "$base_hook" --change 'CMD ["bash"]'

standin influxdb:1.8.10 "influxdb,influxdb-client,curl,ca-certificates" \
  'chroot "$1" sh -c "mkdir -p /var/lib/influxdb /etc/influxdb && chown influxdb:influxdb /var/lib/influxdb"' \
  --change 'USER influxdb' --change 'CMD ["influxd"]' --change 'EXPOSE 8086' \
  --change 'ENV INFLUXDB_DATA_DIR=/var/lib/influxdb/data INFLUXDB_DATA_WAL_DIR=/var/lib/influxdb/wal INFLUXDB_META_DIR=/var/lib/influxdb/meta'

standin redis:7.2.6 "redis-server,redis-tools" \
  'chroot "$1" sh -c "mkdir -p /data && chown redis:redis /data"' \
  --change 'USER redis' --change 'WORKDIR /data' --change 'CMD ["redis-server"]' --change 'EXPOSE 6379'

standin prom/prometheus:v2.53.2 "prometheus,wget" \
  'chroot "$1" sh -c "mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus && { [ -e /bin/prometheus ] || ln -s /usr/bin/prometheus /bin/prometheus; }"' \
  --change 'USER nobody' --change 'WORKDIR /prometheus' --change 'ENTRYPOINT ["/bin/prometheus"]' \
  --change 'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]' --change 'EXPOSE 9090'

standin prom/alertmanager:v0.27.0 "prometheus-alertmanager,wget" \
  'chroot "$1" sh -c "mkdir -p /alertmanager /etc/alertmanager && chown nobody:nogroup /alertmanager && { [ -e /bin/alertmanager ] || ln -s /usr/bin/prometheus-alertmanager /bin/alertmanager; }"' \
  --change 'USER nobody' --change 'WORKDIR /alertmanager' --change 'ENTRYPOINT ["/bin/alertmanager"]' \
  --change 'CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]' --change 'EXPOSE 9093'
