#!/usr/bin/env python3
"""Where tenantwall's CPU goes on pgbench select-only: perf samples the proxy process while
pgbench runs through it, and the samples are grouped into parse and rewrite (libpg_query, the
protobuf tree, tenantwall::policy including the decision cache) and everything else (kernel
socket work, Asio, the protocol codec, libc). Prints each group's share of the proxy's CPU.

Issue 8's goal: parse and rewrite below 10% of proxy CPU on select-only. Not a test; run it
with `tests/bench/run-profile` (installs perf with the other dependencies)."""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the same PostgreSQL, data, policy and pgbench driver)
from bench import harness  # noqa: E402

# Self-time samples are attributed by shared object first, then by symbol name.
PARSE_REWRITE_DSOS = ("libpg_query", "libprotobuf")
PARSE_REWRITE_SYMBOLS = ("tenantwall::policy::", "pg_query", "google::protobuf::")


def classify(dso, symbol):
    if any(d in dso for d in PARSE_REWRITE_DSOS) or any(s in symbol for s in PARSE_REWRITE_SYMBOLS):
        return "parse and rewrite"
    if dso.startswith("[kernel") or symbol.startswith("[k]"):
        return "kernel (sockets, scheduling)"
    if "tenantwall::protocol::" in symbol:
        return "protocol codec"
    if "boost::asio" in symbol or "asio::" in symbol:
        return "asio"
    if "libc" in dso or "libstdc++" in dso or "ld-linux" in dso:
        return "libc and libstdc++"
    if "libssl" in dso or "libcrypto" in dso:
        return "openssl"
    return "other proxy code"


def perf_shares(data_file):
    """Self-time percentage per (dso, symbol), summed into the groups of classify()."""
    out = subprocess.run(["perf", "report", "-i", str(data_file), "--stdio", "--no-children",
                          "-g", "none", "--sort", "dso,symbol", "--percent-limit", "0",
                          "--demangle"], capture_output=True, text=True, check=True).stdout
    groups, top = {}, []
    for line in out.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "%" not in line.split()[0]:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            continue
        share = float(parts[0].rstrip("%"))
        dso, rest = parts[1], parts[2]
        symbol = rest.split("] ", 1)[1] if "] " in rest else rest
        group = classify(dso, ("[k] " if rest.startswith("[k]") else "") + symbol)
        groups[group] = groups.get(group, 0.0) + share
        top.append((share, group, dso, symbol))
    return groups, sorted(top, reverse=True)[:15]


def profile_run(tw, mode, clients, seconds, tmp):
    target = {"port": tw.port, "user": bench.BENCH_USER, "password": bench.BENCH_PASSWORD}
    data_file = tmp / f"perf-{mode}.data"
    perf = subprocess.Popen(["perf", "record", "-F", "1999", "-p", str(tw.pid), "-o",
                             str(data_file), "--", "sleep", str(seconds)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = {}
    worker = threading.Thread(target=lambda: result.update(
        bench.pgbench(target, bench.SELECT_ONLY.format(**SCALE), mode, clients, seconds + 1, tmp)))
    worker.start()
    perf.wait(seconds + 60)
    worker.join()
    if perf.returncode != 0:
        raise RuntimeError(f"perf record failed: {perf.stderr.read()}")
    groups, top = perf_shares(data_file)
    return {"tps": result.get("tps"), "groups": groups, "top": top}


SCALE = {"accounts": 200000, "orders": 2000, "rows": 2000}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--json", default=str(Path(__file__).resolve().parent / "profile.json"))
    args = ap.parse_args()
    if shutil.which("perf") is None:
        sys.exit("perf is not installed (scripts/install-deps installs linux-perf)")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    tmp = Path(tempfile.mkdtemp(prefix="tenantwall-profile-"))
    os.chmod(tmp, 0o755)
    pg = bench.BenchPostgres(tmp)
    tw = None
    try:
        bench.log("starting PostgreSQL")
        pg.start(SCALE)
        verifier = subprocess.run([str(harness.proxy_binary()), "passwd"],
                                  input=bench.BENCH_PASSWORD + "\n", capture_output=True,
                                  text=True, check=True).stdout.strip()
        (tmp / "policy.yaml").write_text(bench.POLICY.format(user=bench.BENCH_USER,
                                                             verifier=verifier))
        (tmp / "tenantwall.yaml").write_text(
            f"listen: {{host: 127.0.0.1, port: 0}}\n"
            f"backend: {{host: 127.0.0.1, port: {pg.port}, database: app, user: tenantwall_service,"
            f" password: service-secret}}\npolicy: {tmp / 'policy.yaml'}\n")
        tw = bench.Daemon("tenantwall", [str(harness.proxy_binary()), "--config",
                                         str(tmp / "tenantwall.yaml")],
                          lambda text: int(text.split("listening on ")[1].split(":")[1].split()[0])
                          if "listening on " in text else None)
        tw.start(tmp / "tenantwall.log")
        results = {}
        for mode in ("simple", "prepared"):
            bench.log(f"  profiling select-only {mode} c={args.clients} for {args.seconds}s")
            results[mode] = profile_run(tw, mode, args.clients, args.seconds, tmp)
        report(results, args)
        Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        if tw:
            tw.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def report(results, args):
    for mode, r in results.items():
        print(f"\nselect-only {mode}, {args.clients} clients, {args.seconds}s: "
              f"{r['tps'] or 0:.0f} TPS through tenantwall; share of the proxy's CPU samples:")
        for group, share in sorted(r["groups"].items(), key=lambda kv: -kv[1]):
            print(f"  {share:6.2f}%  {group}")
        print("  hottest symbols:")
        for share, group, dso, symbol in r["top"]:
            print(f"  {share:6.2f}%  {symbol[:70]:70s} ({dso}; {group})")
    for mode, r in results.items():
        share = r["groups"].get("parse and rewrite", 0.0)
        verdict = "met" if share < 10.0 else "NOT met"
        print(f"parse and rewrite, select-only {mode}: {share:.2f}% of proxy CPU "
              f"(goal < 10%: {verdict})")


if __name__ == "__main__":
    main()
