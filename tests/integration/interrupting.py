"""Waiting on an interrupted devenv without hanging the test run when it hangs."""

import subprocess
import threading


def finish(p: subprocess.Popen, timeout: float) -> tuple[int, str]:
    """Read the rest of ``p``'s stderr and wait for its exit, at most ``timeout`` s.

    A process that does not exit in time is killed and the test fails with what it
    printed, instead of blocking the whole run on the pipe.
    """
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(p.stderr.read()), daemon=True)
    reader.start()
    reader.join(timeout)
    try:
        code = p.wait(timeout=1 if not reader.is_alive() else 0.1)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        reader.join(5)
        raise AssertionError(f"pid {p.pid} did not exit within {timeout} s of the signal; "
                             f"it was killed. Its stderr:\n{''.join(chunks)}") from None
    reader.join(5)
    return code, "".join(chunks)
