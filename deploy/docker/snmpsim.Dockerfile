# An SNMP agent simulator for the compose stack: snmpsim serving snmpsim-data's recordings of
# real switches and routers on UDP 1161, so the stack shows data out of the box. With a
# recording's name as its command, a container is that one device (community public, sysName
# the name): the compose stack runs six such devices and the collectors discover them. Replace
# them with your devices' addresses in compose/collector.toml's [discovery].
#   docker build -f deploy/docker/snmpsim.Dockerfile -t netpulse/snmpsim:0.1.0 deploy/docker
FROM debian:bookworm-slim
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-gdbm bzip2 \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/snmpsim \
 && /opt/snmpsim/bin/pip install --no-cache-dir 'snmpsim==1.2.2' 'snmpsim-data==1.0.1' 'pysmi==1.6.3' 'pysnmp==7.1.30'
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN data=$(/opt/snmpsim/bin/python -c 'import snmpsim_data, os; print(os.path.dirname(snmpsim_data.__file__))')/data \
 && mkdir -p /var/lib/snmpsim/data /var/cache/snmpsim \
 && for rec in network/switch/cisco-c3560 cloud/arista-dcs-7150s-52-cl network/router/juniper-mx960-16-1r6-7-a \
               network/router/huawei-s5720 network/switch/hpe-procurve-516733-b21 network/router/vyatta-unknown; do \
      bzcat "$data/$rec.snmprec.bz2" > "/var/lib/snmpsim/data/$(basename "$rec").snmprec"; \
    done \
 && chown -R nobody:nogroup /var/cache/snmpsim
COPY snmpsim-device /usr/local/bin/snmpsim-device
LABEL org.opencontainers.image.title="netpulse-snmpsim" \
      org.opencontainers.image.description="snmpsim with recordings of real devices for the netpulse demo stack" \
      org.opencontainers.image.licenses="BSD-2-Clause"
EXPOSE 1161/udp
STOPSIGNAL SIGTERM
# snmpsim starts as root only to drop to nobody; its cache must be writable by nobody.
# Healthy once it answers a GET of sysDescr.0 with community public (a device container).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["/opt/snmpsim/bin/python", "-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(bytes.fromhex('302602010104067075626c6963a019020101020100020100300e300c06082b060102010101000500'), ('127.0.0.1', 1161)); s.recv(1500)"]
ENTRYPOINT ["/usr/local/bin/snmpsim-device"]
