"""Reading a long-running devenv command's output line by line, as a user watching it would."""

import re
import subprocess
import time


class Lines:
    """The lines ``proc`` printed so far; ``wait_for`` reads on until one matches."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.seen: list[str] = []

    def wait_for(self, pattern: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}:\n" + "".join(self.seen))

    def text(self) -> str:
        return "".join(self.seen)
