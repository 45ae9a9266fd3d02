"""Per-notebook times of a `make reproduce` run: wall clock, CPU time and the VM's CPU steal.

The Makefile runs each notebook through `python -m lantern_nb.timing run`, which appends one row
to `build/<profile>/timings.tsv`. Wall clock alone misleads on a shared VM: CPU seconds (the
notebook's process tree) and the steal share (`/proc/stat`, time the hypervisor gave to other
guests) say whether a slow run was slow work or a busy host.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

COLUMNS = ["notebook", "seconds", "cpu_seconds", "steal_pct"]


def _cpu_jiffies() -> tuple[int, int] | None:
    """(total, steal) jiffies of all CPUs from /proc/stat, None where there is no /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    vals = [int(v) for v in fields]
    return sum(vals[:8]), (vals[7] if len(vals) > 7 else 0)


def run_timed(name: str, cmd: list[str], tsv: str | Path) -> int:
    """Run `cmd`; on success append (name, wall s, CPU s of the process tree, steal %) to `tsv`."""
    j0, t0 = _cpu_jiffies(), time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    status = subprocess.call(cmd)
    wall = time.perf_counter() - t0
    c1, j1 = resource.getrusage(resource.RUSAGE_CHILDREN), _cpu_jiffies()
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    steal = (100.0 * (j1[1] - j0[1]) / max(1, j1[0] - j0[0])) if j0 and j1 else float("nan")
    if status == 0:
        tsv = Path(tsv)
        tsv.parent.mkdir(parents=True, exist_ok=True)
        with tsv.open("a") as f:
            f.write(f"{name}\t{wall:.1f}\t{cpu:.1f}\t{steal:.1f}\n")
    print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {steal:.1f}% steal" + ("" if status == 0 else
                                                                            f" (failed, exit {status})"))
    return status


def timing_table(tsv: str | Path) -> pd.DataFrame:
    """The latest time of each notebook in `tsv` (a resumed run appends), plus the total."""
    df = pd.read_csv(tsv, sep="\t", header=None)
    df.columns = COLUMNS[:df.shape[1]]
    df = df.drop_duplicates("notebook", keep="last").sort_values("notebook").reset_index(drop=True)
    total = {"notebook": "total", "seconds": round(float(df["seconds"].sum()), 1)}
    if "cpu_seconds" in df:
        total["cpu_seconds"] = round(float(df["cpu_seconds"].sum()), 1)
    if "steal_pct" in df:
        w = df["seconds"] / df["seconds"].sum()
        total["steal_pct"] = round(float((df["steal_pct"] * w).sum()), 1)
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


def write_table(tsv: str | Path, copy_to: str | Path | None = None) -> pd.DataFrame | None:
    """timings.md beside `tsv` (and a copy in `copy_to`, e.g. figures/<profile>/); None if nothing ran."""
    path = Path(tsv)
    if not path.exists():
        print(f"no timings at {path}: nothing was executed (all notebooks up to date)")
        return None
    table = timing_table(path)
    text = table.to_markdown(index=False) + "\n"
    path.with_suffix(".md").write_text(text)
    if copy_to is not None:
        Path(copy_to).mkdir(parents=True, exist_ok=True)
        (Path(copy_to) / "timings.md").write_text(text)
    print(table.to_string(index=False))
    return table


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m lantern_nb.timing")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a command and append its times to a TSV")
    r.add_argument("--name", required=True)
    r.add_argument("--tsv", required=True)
    r.add_argument("command", nargs=argparse.REMAINDER)
    t = sub.add_parser("table", help="write timings.md from a TSV")
    t.add_argument("tsv")
    t.add_argument("--copy-to", default=None)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not cmd:
            ap.error("run: give the command after --")
        return run_timed(args.name, cmd, args.tsv)
    write_table(args.tsv, args.copy_to)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
