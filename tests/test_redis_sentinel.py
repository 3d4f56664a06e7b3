"""Redis through Sentinel: the settings' REDIS_SENTINELS wiring survives a failover.

Runs a throw-away primary, a replica and one sentinel (redis-server in sentinel
mode) on free loopback ports, points the production settings at the service
name, writes through the cache, stops the primary, waits for the sentinel to
promote the replica, and reads and writes again through the same settings.
"""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.test_settings import manage

SERVICE = "clinic-cache"
FAILOVER_TIMEOUT_S = 40

pytestmark = [
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="redis-server is not installed"
    ),
    pytest.mark.slow,
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (redis.RedisError, OSError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def sentinel_setup(tmp_path: Path):
    primary, replica, sentinel = free_port(), free_port(), free_port()
    processes = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            ["redis-server", *args],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        return process

    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    primary_process = start("--port", str(primary), *common)
    start("--port", str(replica), *common, "--replicaof", "127.0.0.1", str(primary))
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {primary} 1\n"
        f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        f"sentinel failover-timeout {SERVICE} 10000\n"
    )
    start(str(config), "--sentinel")
    sentinel_client = redis.Redis(port=sentinel, socket_timeout=1)
    wait_until(
        lambda: (
            redis.Redis(port=replica, socket_timeout=1)
            .info("replication")
            .get("master_link_status")
            == "up"
        ),
        15,
        "the replica to sync",
    )
    wait_until(lambda: sentinel_client.ping(), 15, "the sentinel")
    # The sentinel learns of the replica from the primary's INFO (every ~10 s);
    # stopping the primary before that leaves it nothing to promote.
    wait_until(
        lambda: any(
            replica_info.get("port") == replica
            for replica_info in sentinel_client.sentinel_slaves(SERVICE)
        ),
        30,
        "the sentinel to discover the replica",
    )
    try:
        yield {
            "primary": primary,
            "replica": replica,
            "sentinel_client": sentinel_client,
            "stop_primary": primary_process.terminate,
            "env": {
                "DEBUG": "true",
                "REDIS_URL": f"redis://{SERVICE}/0",
                "REDIS_SENTINELS": f"127.0.0.1:{sentinel}",
                "CACHE_KEY_PREFIX": "sentinel-test",
            },
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def cache_shell(env: dict, code: str) -> str:
    result = manage("shell", "--no-imports", "-c", code, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_cache_follows_the_sentinel_through_a_failover(sentinel_setup):
    """Writes reach the primary the sentinel names, before and after failover."""
    env = sentinel_setup["env"]
    out = cache_shell(
        env,
        "from django.core.cache import cache; cache.set('before', 'one', None); "
        "print(cache.get('before'))",
    )
    assert out == "one"
    primary = redis.Redis(port=sentinel_setup["primary"])
    assert primary.get("sentinel-test:1:before") is not None

    sentinel_setup["stop_primary"]()
    sentinel = sentinel_setup["sentinel_client"]
    wait_until(
        lambda: (
            sentinel.sentinel_get_master_addr_by_name(SERVICE)[1]
            == sentinel_setup["replica"]
        ),
        FAILOVER_TIMEOUT_S,
        "the sentinel to promote the replica",
    )
    out = cache_shell(
        env,
        "from django.core.cache import cache; cache.set('after', 'two', None); "
        "print(cache.get('before'), cache.get('after'))",
    )
    assert out == "one two"
    promoted = redis.Redis(port=sentinel_setup["replica"])
    assert promoted.get("sentinel-test:1:after") is not None


def test_a_malformed_sentinel_list_is_refused_with_its_name():
    """REDIS_SENTINELS entries must be host:port; the error names the entry."""
    result = manage("check", DEBUG="true", REDIS_SENTINELS="sentinel-1")
    assert result.returncode != 0
    assert "REDIS_SENTINELS: 'sentinel-1' is not host:port" in result.stderr
