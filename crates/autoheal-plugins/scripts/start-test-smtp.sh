#!/usr/bin/env bash
# Starts a throwaway SMTP server (Debian's exim4) for the e-mail channel's
# tests.
#
# Idempotent: installs the Debian `exim4-daemon-light` package if exim is
# missing, writes its own configuration (it never touches the system's), and
# starts a daemon on 127.0.0.1:$SMTP_PORT unless one already answers there,
# then waits for its greeting (with a deadline). The server:
# - requires SMTP AUTH (PLAIN or LOGIN) as $SMTP_USER / $SMTP_PASSWORD
#   (offered on the plain connection too: loopback only);
# - offers STARTTLS on $SMTP_PORT and implicit TLS on $SMTP_TLS_PORT, with a
#   certificate for localhost / 127.0.0.1 issued by a throwaway CA made here
#   with openssl ($SMTP_DIR/tls/ca.pem, which the tests trust);
# - refuses the local part `reject` with 550 and defers `defer` with 451
#   (so the tests see a permanent and a temporary refusal);
# - delivers every other message, whatever the domain, to one maildir,
#   $SMTP_DIR/mail (a file per message in new/, with an Envelope-to: header
#   naming its recipients; exim refuses file names made from addresses).
# Must run as root (CI runs it on a fresh Debian machine). Prints the value
# to export as AUTOHEAL_TEST_SMTP on its last line.
#
#   eval "$(crates/autoheal-plugins/scripts/start-test-smtp.sh | tail -n1)"
#   AUTOHEAL_REQUIRE_SMTP=1 cargo test -p autoheal-plugins --test channels
set -euo pipefail

SMTP_PORT="${SMTP_PORT:-2525}"
SMTP_TLS_PORT="${SMTP_TLS_PORT:-2465}"
SMTP_DIR="${SMTP_DIR:-/tmp/autoheal-smtp}"
SMTP_USER="${SMTP_USER:-autoheal}"
SMTP_PASSWORD="${SMTP_PASSWORD:-autoheal-smtp-test}"
WAIT_SECS="${WAIT_SECS:-30}"
# exim only keeps root (needed to run as a daemon and deliver) for an
# alternate configuration listed in its TRUSTED_CONFIG_LIST, which is
# /etc/exim4/trusted_configs on Debian; the file must be root's.
CONF=/etc/exim4/autoheal-test-smtp.conf
TRUSTED=/etc/exim4/trusted_configs

log() { echo "start-test-smtp: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "must run as root (it installs packages and runs exim as a daemon)"
  exit 1
fi

# Answers with a 220 greeting on the port?
answers() {
  timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT && head -c 3 <&3" 2>/dev/null | grep -q '^220'
}

# 1. The server binary.
EXIM="$(command -v exim4 || true)"
if [ -z "$EXIM" ]; then
  log "installing the exim4-daemon-light Debian package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq exim4-daemon-light >/dev/null
  EXIM="$(command -v exim4)"
fi
EXIM_USER="$(id -un Debian-exim 2>/dev/null || echo mail)"
if ! command -v openssl >/dev/null; then
  log "installing the openssl Debian package (to make the test certificate)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq openssl >/dev/null
fi

# 2. Directories and the configuration (rewritten each time: cheap, and a
# changed port or password takes effect).
mkdir -p "$SMTP_DIR/spool" "$SMTP_DIR/log" "$SMTP_DIR/mail" "$SMTP_DIR/tls"
# A CA and a server certificate signed by it (a self-signed server
# certificate would be refused by rustls as a CA used as an end entity).
TLS="$SMTP_DIR/tls"
if [ ! -s "$TLS/cert.pem" ] || [ ! -s "$TLS/key.pem" ] || [ ! -s "$TLS/ca.pem" ]; then
  log "making a test CA and a certificate for localhost in $TLS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=autoheal test SMTP CA" \
    -keyout "$TLS/ca-key.pem" -out "$TLS/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$TLS/key.pem" -out "$TLS/server.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca-key.pem" -CAcreateserial \
    -days 3650 -extfile "$TLS/server.ext" -out "$TLS/cert.pem" 2>/dev/null
fi
chown "$EXIM_USER" "$TLS/key.pem" "$TLS/cert.pem"
chmod 600 "$TLS/key.pem"
chmod 644 "$TLS/ca.pem" "$TLS/cert.pem"
chown -R "$EXIM_USER" "$SMTP_DIR/spool" "$SMTP_DIR/log"
chown "$EXIM_USER" "$SMTP_DIR/mail"
chmod 755 "$SMTP_DIR" "$SMTP_DIR/mail"
cat >"$CONF.new" <<EOF
# Written by crates/autoheal-plugins/scripts/start-test-smtp.sh: a test SMTP
# server on 127.0.0.1:$SMTP_PORT. Not for real mail.
primary_hostname = autoheal-test-smtp.localhost
daemon_smtp_ports = $SMTP_PORT : $SMTP_TLS_PORT
tls_on_connect_ports = $SMTP_TLS_PORT
local_interfaces = 127.0.0.1
spool_directory = $SMTP_DIR/spool
log_file_path = $SMTP_DIR/log/%slog
pid_file_path = $SMTP_DIR/exim.pid
exim_user = $EXIM_USER
exim_group = $EXIM_USER
never_users = root
host_lookup =
keep_environment =
rfc1413_hosts =
tls_advertise_hosts = *
tls_certificate = $TLS/cert.pem
tls_privatekey = $TLS/key.pem
auth_advertise_hosts = *
# Deliver at once, never queue.
queue_only = false
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  deny    message = authentication required
          !authenticated = *
  deny    message = no such user here
          local_parts = reject
  defer   message = mailbox busy, try again later
          local_parts = defer
  accept

begin routers

everything:
  driver = accept
  transport = to_maildir

begin transports

to_maildir:
  driver = appendfile
  directory = $SMTP_DIR/mail
  maildir_format
  create_directory
  user = $EXIM_USER
  mode = 0644
  delivery_date_add
  envelope_to_add
  return_path_add

begin retry

*  *  F,1m,10s

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and {{eq{\$auth2}{$SMTP_USER}}{eq{\$auth3}{$SMTP_PASSWORD}}}}
  server_set_id = \$auth2

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = \${if and {{eq{\$auth1}{$SMTP_USER}}{eq{\$auth2}{$SMTP_PASSWORD}}}}
  server_set_id = \$auth1
EOF
chown root:root "$CONF.new"
chmod 644 "$CONF.new"
CHANGED=1
if [ -f "$CONF" ] && cmp -s "$CONF" "$CONF.new"; then
  CHANGED=0
  rm -f "$CONF.new"
else
  mv "$CONF.new" "$CONF"
fi
touch "$TRUSTED"
grep -qxF "$CONF" "$TRUSTED" || echo "$CONF" >>"$TRUSTED"
chown root:root "$TRUSTED"
chmod 644 "$TRUSTED"
"$EXIM" -C "$CONF" -bV >/dev/null

# 3. Start unless our server already answers with this configuration.
PID="$(cat "$SMTP_DIR/exim.pid" 2>/dev/null || true)"
if [ "$CHANGED" = 1 ] && [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
  log "configuration changed: restarting exim (pid $PID)"
  kill "$PID"
  deadline=$(( $(date +%s) + WAIT_SECS ))
  while kill -0 "$PID" 2>/dev/null; do
    [ "$(date +%s)" -ge "$deadline" ] && { log "exim $PID did not stop"; exit 1; }
    sleep 0.2
  done
fi
if answers; then
  log "an SMTP server already answers on 127.0.0.1:$SMTP_PORT"
else
  log "starting exim on 127.0.0.1:$SMTP_PORT (maildir: $SMTP_DIR/mail, log: $SMTP_DIR/log/mainlog)"
  "$EXIM" -C "$CONF" -bd -q1m
fi

# 4. Wait with a deadline.
deadline=$(( $(date +%s) + WAIT_SECS ))
until answers; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    log "exim not answering after ${WAIT_SECS}s; last log lines:"
    tail -n 20 "$SMTP_DIR/log/mainlog" "$SMTP_DIR/log/paniclog" >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done

log "ready"
echo "export AUTOHEAL_TEST_SMTP=smtp://$SMTP_USER:$SMTP_PASSWORD@127.0.0.1:$SMTP_PORT/?mail_dir=$SMTP_DIR/mail&tls_port=$SMTP_TLS_PORT&ca=$TLS/ca.pem"
