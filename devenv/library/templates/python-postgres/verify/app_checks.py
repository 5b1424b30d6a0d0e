"""testinfra checks of the app container (`devenv verify`): `host` is the app service."""


def test_gunicorn_runs_as_www_data(host):
    # PID 1 is the gunicorn master (no ps in the image: /proc)
    assert "gunicorn" in host.file("/proc/1/cmdline").content_string
    assert host.check_output("stat -c %U /proc/1") == "www-data"


def test_reads_orders_through_redis(host):
    out = host.check_output("python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/api/orders').read().decode())\"")
    assert '"orders"' in out and '"count"' in out
