# Shared by the benches that run InfluxDB 1.x replicas (source it): the config of one, in a
# folder of its own, on loopback.
# influxd_conf DIR HTTP_PORT RPC_PORT: writes DIR/influxdb.conf.
influxd_conf() {
  mkdir -p "$1"
  printf 'reporting-disabled = true\nbind-address = "127.0.0.1:%s"\n[meta]\n  dir = "%s/meta"\n[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n  query-log-enabled = false\n[http]\n  bind-address = "127.0.0.1:%s"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n' \
    "$3" "$1" "$1" "$1" "$2" > "$1/influxdb.conf"
}
