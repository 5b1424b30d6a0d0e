"""The fact-gathering script: one remote command per host.

A POSIX ``sh`` script (plus ``awk``, coreutils and ``dpkg-query``, all in every
Debian install including ``debootstrap --variant=minbase``) that prints every
fact of the host as ONE JSON document: an array of rows ``[TAG, field, ...]``,
strings only. ``devenv.parity.facts`` turns the rows into a typed
``HostFingerprint``. The script is shipped base64-encoded inside the command
line, so it survives any quoting of any testinfra backend (docker exec, ssh,
sudo wrappers) and needs nothing installed on the host.

Rows (tab-separated before the final awk turns them into JSON):

    h  hostname|machine-id  VALUE
    o  KEY  VALUE                          /etc/os-release, plus DEBIAN_VERSION
    p  NAME  VERSION  ARCH  STATUS         dpkg-query, every package dpkg knows
    f  PATH  file|dir  SHA256  MODE  OWNER a path asked for (dir: digest of its files)
    f  PATH  missing|unreadable|other
    r  NAME  FIRST-LINE                    runtime versions (RUNTIMES below)
    m  SAPI  MODULE                        PHP modules per binary (php, php-fpm8.2)
    u  NAME  UID  GID  HOME  SHELL         /etc/passwd
    n  tcp|tcp6|udp|udp6  LOCAL           live only: listening sockets from /proc/net, kernel hex
    s  NAME  UID                           live only: processes, minus this script's session

The first argument names the sections to gather (``SECTIONS``); ``files`` are the
remaining arguments.

A second, optional command (``CONTENT_COMMAND``) prints the content of a few
files, base64-encoded; verify uses it only to show a diff for files that differ.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass

from ..db import ENGINES


@dataclass(frozen=True)
class Runtime:
    """A program whose version a fingerprint records (``runtime:NAME`` in drift)."""

    name: str
    command: str   # prints the version; first word: a program on PATH or a glob of absolute paths
    line: str      # ERE: the first matching line of its stdout+stderr is the version kept


# The services of the built-in recipe library; PHP-FPM binaries are found by the script itself.
SERVICE_RUNTIMES: tuple[Runtime, ...] = (
    Runtime("php", "php -v", "^PHP [0-9]"),
    Runtime("nginx", "nginx -v", "version"),
    Runtime("memcached", "memcached -V", "[0-9]"),
    Runtime("redis-server", "redis-server --version", "v=[0-9]"),
    Runtime("python3", "python3 --version", "^Python [0-9]"),
    Runtime("gunicorn", "gunicorn --version", "version"),
)
# The database servers: each engine of the seam says what it runs.
DATABASE_RUNTIMES: tuple[Runtime, ...] = tuple(Runtime(e.runtime, e.version_command, "[0-9]")
                                               for e in ENGINES.values())
RUNTIMES: tuple[Runtime, ...] = SERVICE_RUNTIMES + DATABASE_RUNTIMES

_SCRIPT = r"""
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
LC_ALL=C
export PATH LC_ALL
sections=",$1,"   # which facts: os,packages,files,runtimes,php,users,sockets,processes
shift
want() { case $sections in *",$1,"*) return 0;; esac; return 1; }
T=$(printf '\t')
self=$$

rt() {
    n=$1; re=$2; shift 2
    command -v "$1" >/dev/null 2>&1 || return 0
    v=$("$@" 2>&1 </dev/null | grep -m 1 -E "$re")
    printf 'r\t%s\t%s\n' "$n" "$v"
}

fileinfo() {
    p=$1
    if [ ! -e "$p" ] && [ ! -L "$p" ]; then printf 'f\t%s\tmissing\n' "$p"; return; fi
    meta=$(stat -L -c "%a$T%U:%G" -- "$p" 2>/dev/null)
    if [ -f "$p" ]; then
        if [ -r "$p" ]; then
            sum=$(sha256sum <"$p"); printf 'f\t%s\tfile\t%s\t%s\n' "$p" "${sum%% *}" "$meta"
        else
            printf 'f\t%s\tunreadable\t\t%s\n' "$p" "$meta"
        fi
    elif [ -d "$p" ]; then
        if [ -r "$p" ] && [ -x "$p" ]; then
            sum=$(cd "$p" && find . -type f -print0 | sort -z | xargs -0r sha256sum -- | sha256sum)
            printf 'f\t%s\tdir\t%s\t%s\n' "$p" "${sum%% *}" "$meta"
        else
            printf 'f\t%s\tunreadable\t\t%s\n' "$p" "$meta"
        fi
    else
        printf 'f\t%s\tother\t\t%s\n' "$p" "$meta"
    fi
}

{
    printf 'h\thostname\t%s\n' "$(cat /proc/sys/kernel/hostname 2>/dev/null)"
    if [ -r /etc/machine-id ]; then printf 'h\tmachine-id\t%s\n' "$(cat /etc/machine-id)"; fi
    osr=/etc/os-release; [ -r $osr ] || osr=/usr/lib/os-release
    if want os && [ -r $osr ]; then
        awk 'index($0, "=") > 1 && !/^#/ { k = substr($0, 1, index($0, "=") - 1); v = substr($0, index($0, "=") + 1); gsub(/^"|"$/, "", v); print "o\t" k "\t" v }' $osr
    fi
    if want os && [ -r /etc/debian_version ]; then printf 'o\tDEBIAN_VERSION\t%s\n' "$(cat /etc/debian_version)"; fi
    if want packages && command -v dpkg-query >/dev/null 2>&1; then
        dpkg-query -W -f='p\t${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n' 2>/dev/null
    fi
    if want files; then for p in "$@"; do fileinfo "$p"; done; fi
    if want runtimes; then
@RUNTIMES@
    fi
    if want runtimes || want php; then for b in php /usr/sbin/php-fpm[0-9]*; do
        command -v "$b" >/dev/null 2>&1 || continue
        if want runtimes; then case $b in */*) rt "${b##*/}" '^PHP [0-9]' "$b" -v;; esac; fi
        if want php; then "$b" -m 2>/dev/null </dev/null | awk -v s="${b##*/}" 'NF && !/^\[/ { print "m\t" s "\t" $0 }'; fi
    done; fi
    if want users && [ -r /etc/passwd ]; then
        awk -F: 'NF >= 7 && $1 !~ /^[+-]/ { print "u\t" $1 "\t" $3 "\t" $4 "\t" $6 "\t" $7 }' /etc/passwd
    fi
    if want sockets; then
        tables=
        for n in tcp tcp6 udp udp6; do if [ -r /proc/net/$n ]; then tables="$tables /proc/net/$n"; fi; done
        if [ -n "$tables" ]; then
            awk 'FNR > 1 { n = FILENAME; sub(/.*\//, "", n); if ($4 == "0A" || (n ~ /^udp/ && $4 == "07")) print "n\t" n "\t" $2 }' $tables
        fi
    fi
    if want processes; then
        cat /proc/[0-9]*/status 2>/dev/null | awk -v self=$self '
            function flush() {
                if (pid != "") { np++; pn[np] = name; pu[np] = uid; ps[np] = sid; pp[np] = ppid; pi[np] = pid }
                if (pid == self) mysid = sid
            }
            /^Name:/ { flush(); name = substr($0, 7); pid = ""; uid = ""; sid = ""; ppid = "" }
            /^Pid:/ { pid = $2 }
            /^PPid:/ { ppid = $2 }
            /^Uid:/ { uid = $3 }
            /^NSsid:/ { sid = $2 }
            END {
                flush()
                for (i = 1; i <= np; i++)
                    if (ps[i] != mysid && pi[i] != 2 && pp[i] != 2) print "s\t" pn[i] "\t" pu[i]
            }'
    fi
} | awk -F '\t' '
    function rep(s, ch, by,    n, parts, out, i) {
        # literal replace; gsub replacements treat backslashes differently in every awk
        if (!index(s, ch)) return s
        n = split(s, parts, ch); out = parts[1]
        for (i = 2; i <= n; i++) out = out by parts[i]
        return out
    }
    function q(s) {
        s = rep(s, "\\", "\\\\"); s = rep(s, "\"", "\\\"")
        gsub(/[\001-\037\177]/, "?", s)
        return "\"" s "\""
    }
    BEGIN { printf "[" }
    { row = q($1); for (i = 2; i <= NF; i++) row = row "," q($i); printf "%s\n[%s]", (NR > 1 ? "," : ""), row }
    END { print "]" }'
"""


def _runtime_line(r: Runtime) -> str:
    program, _, args = r.command.partition(" ")
    call = f"rt {shlex.quote(r.name)} {shlex.quote(r.line)}"
    if "*" in program:   # a program off PATH, one copy per installed major version
        return f'        for b in {program}; do {call} "$b" {args}; done'
    return f"        {call} {r.command}"


def build_script(runtimes: tuple[Runtime, ...]) -> str:
    """The fact script asking for the versions of ``runtimes``."""
    return _SCRIPT.replace("@RUNTIMES@", "\n".join(_runtime_line(r) for r in runtimes) or "        :")


SCRIPT = build_script(RUNTIMES)

_CONTENT_SCRIPT = r"""
for p in "$@"; do
    printf '%s\n' "$p"
    if [ -f "$p" ] && [ -r "$p" ]; then head -c "$LIMIT" -- "$p" | base64 | tr -d '\n'; fi
    printf '\n'
done
"""

CONTENT_LIMIT = 256 * 1024  # bytes of each file fetched for a diff


def _wrap(script: str, args: list[str]) -> str:
    """A command line that runs ``script`` with ``args`` under /bin/sh, quoting-proof."""
    encoded = base64.b64encode(script.encode()).decode()
    quoted = " ".join(shlex.quote(a) for a in args)
    return f"s=$(printf %s {encoded} | base64 -d) && exec /bin/sh -c \"$s\" devenv-facts {quoted}".rstrip()


FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")  # pseudo files: endless or blocking reads


def check_path(path: str) -> None:
    """Raise ValueError unless ``path`` is absolute, one line, and not under /proc, /sys, /dev."""
    if not path.startswith("/") or "\n" in path or "\t" in path:
        raise ValueError(f"not an absolute path on one line: {path!r}")
    norm = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    if ".." in norm.split("/"):
        raise ValueError(f"path with `..`: {path!r}")
    if any(norm == root or norm.startswith(root + "/") for root in FORBIDDEN_ROOTS):
        raise ValueError(f"{path}: pseudo files under {', '.join(FORBIDDEN_ROOTS)} cannot be fingerprinted")


SECTIONS = ("os", "packages", "files", "runtimes", "php", "users", "sockets", "processes")
LIVE_SECTIONS = ("sockets", "processes")        # facts of a running host only
VERIFY_SECTIONS = ("os", "packages", "files", "sockets")  # what verify's checks read


def facts_command(paths: list[str], live: bool, sections: tuple[str, ...] = SECTIONS) -> str:
    """The one command that prints the facts of a host (see the module docstring).

    ``sections`` limits what is gathered (verify needs no PHP start-ups);
    without ``live`` the running-host sections are left out.
    """
    for p in paths:
        check_path(p)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown fact sections: {', '.join(sorted(unknown))}")
    chosen = [s for s in sections if live or s not in LIVE_SECTIONS]
    return _wrap(SCRIPT, [",".join(chosen) or "none"] + list(paths))


def content_command(paths: list[str]) -> str:
    """A command printing, per path, a line with the path and a line with its base64 content."""
    for p in paths:
        check_path(p)
    return _wrap(f"LIMIT={CONTENT_LIMIT}\n" + _CONTENT_SCRIPT, list(paths))
