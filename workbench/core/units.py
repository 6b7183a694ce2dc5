"""Human-readable numbers: parameter counts and byte sizes."""

from __future__ import annotations


def human_count(n: int | float) -> str:
    """12_345_678 -> '12.3 M', 70_553_706_496 -> '70.55 B'."""
    n = float(n)
    for limit, suffix, digits in ((1e12, "T", 2), (1e9, "B", 2), (1e6, "M", 1), (1e3, "K", 1)):
        if abs(n) >= limit:
            return f"{n / limit:.{digits}f} {suffix}"
    return f"{int(n)}"


def human_bytes(n: int | float | None) -> str:
    """1536 -> '1.5 KiB'; None (a size nobody knows) -> 'unknown'."""
    if n is None:
        return "unknown"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
