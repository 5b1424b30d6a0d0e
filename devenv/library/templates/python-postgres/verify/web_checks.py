"""testinfra checks of the web container: nginx serves the app's page."""


def test_serves_the_catalog(host):
    out = host.check_output("bash -c 'exec 3<>/dev/tcp/127.0.0.1/80; printf \"GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n\" >&3; cat <&3'")
    assert "latest orders" in out
