"""One-node OpenStack Swift in one process, for Burrow's tests.

Debian's swift packages run the proxy, account, container and object servers as four Python
processes that each import eventlet and Swift (about a second of CPU apiece). This launcher serves
the same four WSGI apps, loaded from their own paste.deploy config files by Swift's own loader, in
one process on one eventlet hub, the way Swift's in-process functional tests do.

usage: swift-aio.py DIR
  DIR holds swift.conf and {account,container,object,proxy}-server.conf (written by
  tests/services/s3.ts). The launcher binds four sockets on 127.0.0.1 (the proxy on the port named
  by proxy-server.conf's bind_port, 0 = any free port), writes one-replica rings that point at
  them with Swift's RingBuilder, loads the apps and prints one JSON line {"proxyPort": N} to
  stdout once every server accepts connections. Swift's log lines go to stderr.
"""

import json
import os
import socket
import sys
import time

from swift.common import utils

utils.eventlet_monkey_patch()

import eventlet  # noqa: E402
from eventlet import wsgi  # noqa: E402
from swift.common.ring import RingBuilder  # noqa: E402
from swift.common.wsgi import SwiftHttpProtocol, appconfig, loadapp  # noqa: E402

STORAGE = ("account", "container", "object")
# Memcache's "time" is a TTL up to 30 days and an absolute Unix time above that.
MEMCACHE_MAX_TTL = 30 * 24 * 3600


class DictCache:
    """The memcache client interface Swift's proxy and tempauth use, kept in this process."""

    def __init__(self):
        self.items = {}

    def _expiry(self, ttl):
        if not ttl:
            return None
        return ttl if ttl > MEMCACHE_MAX_TTL else time.time() + ttl

    def get(self, key, raise_on_error=False):
        item = self.items.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires < time.time():
            del self.items[key]
            return None
        return json.loads(value)

    def set(self, key, value, serialize=True, time=0, min_compression_len=0, raise_on_error=False):
        self.items[key] = (json.dumps(value), self._expiry(time))

    def incr(self, key, delta=1, time=0):
        value = int(self.get(key) or 0) + delta
        self.set(key, value, time=time)
        return value

    def decr(self, key, delta=1, time=0):
        return self.incr(key, -delta, time)

    def delete(self, key, server_key=None):
        self.items.pop(key, None)

    def get_multi(self, keys, server_key):
        return [self.get(k) for k in keys]

    def set_multi(self, mapping, server_key, serialize=True, time=0, min_compression_len=0):
        for k, v in mapping.items():
            self.set(k, v, time=time)


def with_cache(app, cache):
    def call(env, start_response):
        env["swift.cache"] = cache
        return app(env, start_response)

    return call


def listen(port):
    sock = eventlet.listen(("127.0.0.1", port), backlog=128)
    return sock, sock.getsockname()[1]


def log_relay(path):
    """Swift's loggers write to a syslog socket: this one, in DIR, relayed to stderr."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # green: eventlet patched socket
    sock.bind(path)

    def relay():
        while True:
            line = sock.recv(65536)
            sys.stderr.write(line.decode("utf-8", "replace").rstrip("\x00") + "\n")
            sys.stderr.flush()

    eventlet.spawn(relay)


def main():
    conf_dir = sys.argv[1]
    os.environ["TZ"] = "UTC+0"
    time.tzset()
    log_relay(os.path.join(conf_dir, "log.sock"))
    sockets = {name: listen(0) for name in STORAGE}
    proxy_conf = os.path.join(conf_dir, "proxy-server.conf")
    sockets["proxy"] = listen(int(appconfig(proxy_conf, name="proxy-server").get("bind_port", "0")))
    for name in STORAGE:
        builder = RingBuilder(6, 1, 1)
        builder.add_dev(
            {"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": sockets[name][1], "device": "d1", "weight": 100}
        )
        builder.rebalance()
        builder.get_ring().save(os.path.join(conf_dir, name + ".ring.gz"))
    utils.set_swift_dir(conf_dir)
    cache = DictCache()
    pool = eventlet.GreenPool()
    for name in (*STORAGE, "proxy"):
        app = loadapp(os.path.join(conf_dir, name + "-server.conf"), global_conf={"log_name": name})
        if name == "proxy":
            app = with_cache(app, cache)
        pool.spawn(
            wsgi.server,
            sockets[name][0],
            app,
            utils.NullLogger(),
            protocol=SwiftHttpProtocol,
            capitalize_response_headers=False,
            socket_timeout=60,
        )
    print(json.dumps({"proxyPort": sockets["proxy"][1]}), flush=True)
    pool.waitall()


if __name__ == "__main__":
    main()
