# shellcheck shell=bash
# Shared helpers for the project's scripts. Source it; do not run it.

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

amqp_port_open() {
    (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null
}

# Makes sure a RabbitMQ broker answers on 127.0.0.1:5672, installing and starting Debian's
# rabbitmq-server when needed. Tests and the demo use its default guest/guest account.
ensure_rabbitmq() {
    if amqp_port_open; then
        return 0
    fi
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        echo "==> installing rabbitmq-server (apt-get)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    fi
    echo "==> starting RabbitMQ"
    if ! amqp_port_open; then
        if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
            as_root systemctl start rabbitmq-server || true
        fi
    fi
    if ! amqp_port_open; then
        as_root rabbitmq-server -detached >/dev/null 2>&1 || true
    fi
    for _ in $(seq 1 120); do
        if amqp_port_open && as_root rabbitmqctl -q await_startup >/dev/null 2>&1; then
            echo "==> RabbitMQ is up on 127.0.0.1:5672"
            return 0
        fi
        sleep 1
    done
    echo "RabbitMQ did not start on 127.0.0.1:5672 within two minutes" >&2
    return 1
}

ensure_command() {
    local command=$1 package=${2:-$1}
    if ! command -v "$command" >/dev/null 2>&1; then
        echo "==> installing $package (apt-get)"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
    fi
}

# Makes sure Debian's Chromium is installed, for the browser test of the approvals page; prints
# its path. The test finds it through $VCD_BLOCKD_CHROMIUM (or /usr/bin/chromium).
ensure_chromium() {
    ensure_command chromium chromium >&2
    command -v chromium
}
