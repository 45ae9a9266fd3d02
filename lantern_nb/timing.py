"""Per-notebook wall-clock times of a `make reproduce` run (written by the Makefile)."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def timing_table(tsv: str | Path) -> pd.DataFrame:
    """The latest time of each notebook in `tsv` (a resumed run appends), plus the total."""
    df = pd.read_csv(tsv, sep="\t", names=["notebook", "seconds"])
    df = df.drop_duplicates("notebook", keep="last").sort_values("notebook").reset_index(drop=True)
    total = pd.DataFrame([{"notebook": "total", "seconds": round(float(df["seconds"].sum()), 1)}])
    return pd.concat([df, total], ignore_index=True)


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    if not path.exists():
        print(f"no timings at {path}: nothing was executed (all notebooks up to date)")
        return 0
    table = timing_table(path)
    md = path.with_suffix(".md")
    md.write_text(table.to_markdown(index=False) + "\n")
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
