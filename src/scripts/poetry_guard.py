# pkgward's build guard for poetry: loaded as `sitecustomize` (pkgward puts
# its directory first on PYTHONPATH for poetry's run) when
# PKGWARD_POETRY_GUARD is set. Every PEP 517 backend call poetry makes (to
# read an sdist's metadata while resolving, to build it while installing, to
# get a build's requirements) goes through pyproject_hooks'
# BuildBackendHookCaller._call_hook, which starts the backend's process.
# The guard decides each call before that process starts: the package's
# every identity (the sdist file's name poetry downloaded, PKG-INFO,
# pyproject.toml) must be approved at its version, else the call is refused:
# a `deny` line in the report, and poetry ends at once with exit code 77.
# Approved calls are reported with their outcome and duration. The user's
# own project (the directory poetry runs for) is not decided. A path
# dependency (poetry's `directory` / `file` sources) is the project's own
# code too: only an approval marked `local` (`pypi:NAME@local`) approves
# it, and only approvals not so marked approve anything else.
import os
import sys


def _pkgward_poetry_guard():
    import json
    import re
    import threading
    import time

    raw = os.environ.get("PKGWARD_POETRY_GUARD")
    if not raw:
        return
    try:
        cfg = json.loads(raw)
        report = cfg["report"]
    except Exception:
        sys.stderr.write("pkgward: unreadable PKGWARD_POETRY_GUARD; builds are refused\n")
        cfg = {"report": None, "project": None, "approvals": []}
        report = None
    project = cfg.get("project")
    approvals = cfg.get("approvals") or []
    require_sandbox = bool(cfg.get("require_sandbox"))
    lock = threading.Lock()

    def write(rec):
        rec["pid"] = os.getpid()
        line = json.dumps(rec) + "\n"
        try:
            with lock:
                fd = os.open(report, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
                try:
                    os.write(fd, line.encode())
                finally:
                    os.close(fd)
            return True
        except Exception:
            return False

    def norm(name):
        return re.sub(r"[-_.]+", "-", name).lower()

    valid = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")

    def from_filename(path):
        base = os.path.basename(str(path))
        for ext in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip"):
            if base.lower().endswith(ext):
                stem = base[: -len(ext)]
                if "-" not in stem:
                    return None
                name, version = stem.rsplit("-", 1)
                return (name, version)
        return None

    local_sources = ("directory", "file")

    def poetry_claims():
        # What poetry itself is working on, from its own frames (this
        # thread's): the sdist file (PackageInfo._from_sdist_file(path)
        # while resolving, Chef._prepare_sdist(archive) while installing),
        # the locked package an install operation is for, the direct
        # (git/url/path) dependency being read; and whether any of them is
        # a path source (the project's own code).
        out = []
        local = False
        f = sys._getframe(2)
        while f is not None:
            code = f.f_code.co_name
            loc = f.f_locals
            v = None
            if code == "_from_sdist_file":
                v = loc.get("path")
            elif code in ("_prepare_sdist", "prepare"):
                v = loc.get("archive")
            if v is not None and os.path.isfile(str(v)):
                c = from_filename(v)
                if c and c not in out:
                    out.append(c)
            try:
                op = loc.get("operation")
                pkg = getattr(op, "package", None) if op is not None else None
                if pkg is not None:
                    c = (str(pkg.name), str(pkg.version))
                    if c not in out:
                        out.append(c)
                    local = local or getattr(pkg, "source_type", None) in local_sources
                dep = loc.get("dependency")
                if dep is not None and getattr(dep, "source_type", None) in (
                    "git",
                    "url",
                    "file",
                    "directory",
                ):
                    c = (str(dep.name), "")
                    if c not in out:
                        out.append(c)
                    local = local or dep.source_type in local_sources
            except Exception:
                pass
            f = f.f_back
        return out, local

    def metadata_claims(src):
        out = []
        try:
            import email.parser

            with open(os.path.join(src, "PKG-INFO"), encoding="utf-8", errors="replace") as fh:
                m = email.parser.Parser().parse(fh, headersonly=True)
            if m.get("Name"):
                out.append((m.get("Name").strip(), (m.get("Version") or "").strip()))
        except Exception:
            pass
        try:
            try:
                import tomllib
            except ImportError:
                import tomli as tomllib
            with open(os.path.join(src, "pyproject.toml"), "rb") as fh:
                t = tomllib.load(fh)
            for table in (t.get("project") or {}, (t.get("tool") or {}).get("poetry") or {}):
                n = table.get("name")
                if isinstance(n, str) and n:
                    v = table.get("version")
                    out.append((n, v if isinstance(v, str) else ""))
        except Exception:
            pass
        return out

    def approved(name, version, local):
        n = norm(name)
        try:
            from packaging.specifiers import SpecifierSet
            from packaging.version import Version

            parsed = Version(version) if version else None
        except Exception:
            SpecifierSet = None
            parsed = None
        for a in approvals:
            if norm(a.get("name", "")) != n or bool(a.get("local")) != local:
                continue
            r = a.get("range")
            if not r:
                return a.get("by") or name
            if SpecifierSet is None or parsed is None:
                continue
            r = r.strip()
            if r[:1].isalnum():
                r = "==" + r
            try:
                if SpecifierSet(r).contains(parsed, prereleases=True):
                    return a.get("by") or name
            except Exception:
                continue
        return None

    def decide(src):
        claims, local = poetry_claims()
        claims.extend(metadata_claims(src))
        if not claims:
            return (os.path.basename(src.rstrip("/")), "", None, local)
        name, version = claims[0]
        # The package's own spelling of its name, when it is the same name.
        for n, _ in claims[1:]:
            if norm(n) == norm(name):
                name = n
                break
        if not version:
            version = next((v for _, v in claims if v), "")
        by = None
        for n, v in claims:
            shown = name if norm(n) == norm(name) else n
            if not valid.match(n):
                return (shown, version, None, local)
            b = approved(n, v or version, local)
            if b is None:
                return (shown, v or version, None, local)
            by = by or b
        return (name, version, by, local)

    # Only poetry 2's builds are known to go through pyproject_hooks (poetry
    # 1 ran `setup.py egg_info` itself): an older poetry does not run.
    try:
        from importlib.metadata import version as dist_version

        poetry_version = dist_version("poetry")
        major = int(poetry_version.split(".")[0])
    except Exception:
        major = None
    if major is not None and major < 2:
        write({"event": "unsupported", "version": poetry_version})
        sys.stderr.write(
            "pkgward: poetry %s is older than the poetry 2 whose builds pkgward can decide; "
            "it was not run\n" % poetry_version
        )
        sys.stderr.flush()
        os._exit(78)

    try:
        import pyproject_hooks._impl as impl

        caller = impl.BuildBackendHookCaller
        original = caller._call_hook
    except Exception:
        return

    def guarded(self, hook_name, kwargs):
        src = os.path.realpath(self.source_dir)
        if project and src == project:
            return original(self, hook_name, kwargs)
        name, version, by, local = decide(src)
        if by is not None and require_sandbox:
            write(
                {
                    "event": "unconfinable",
                    "name": name,
                    "version": version,
                    "hook": hook_name,
                    "local": local,
                }
            )
            sys.stderr.write(
                "pkgward: poetry was stopped before building the approved %s %s in its own "
                "run, which cannot be confined ([sandbox] require = true)\n" % (name, version)
            )
            sys.stderr.flush()
            os._exit(78)
        if by is None or not loaded:
            write(
                {"event": "deny", "name": name, "version": version, "hook": hook_name, "local": local}
            )
            sys.stderr.write(
                "pkgward: poetry was stopped before running the build code of %s %s "
                "(%s), which [scripts] does not approve\n" % (name, version, hook_name)
            )
            sys.stderr.flush()
            os._exit(77)
        started = time.time()
        ok = False
        try:
            result = original(self, hook_name, kwargs)
            ok = True
            return result
        except Exception as e:
            # The backend ran and said it has no such (optional) hook: the
            # caller falls back to another one; not a failed build.
            ok = type(e).__name__ == "HookMissing"
            raise
        finally:
            write(
                {
                    "event": "build",
                    "name": name,
                    "version": version,
                    "hook": hook_name,
                    "approved_by": by,
                    "ok": ok,
                    "ms": round((time.time() - started) * 1000.0, 3),
                }
            )

    argv = getattr(sys, "argv", None) or [""]
    # Without a report to write to, every build is refused.
    loaded = report is not None and write({"event": "guard", "argv0": os.path.basename(argv[0])})
    caller._call_hook = guarded


def _pkgward_next_sitecustomize():
    # Another sitecustomize (the system's) further along sys.path still runs.
    try:
        import importlib.machinery
        import importlib.util

        here = os.path.dirname(os.path.abspath(__file__))
        rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
        if spec is not None and spec.loader is not None:
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
    except Exception:
        pass


_pkgward_poetry_guard()
_pkgward_next_sitecustomize()
