"""Checks shared by the data-set generators."""

import os


def _available_memory():
    """Bytes of memory available to a new allocation, or None when unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _format_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_fits_in_memory(n_bytes, arguments):
    """Refuse a request whose output would not fit in the available memory.

    Parameters
    ----------
    n_bytes : int
        Bytes the output (with the generator's working arrays) needs.
    arguments : dict
        The size arguments that determine ``n_bytes``, by name, for the message.

    Raises
    ------
    ValueError
        ``n_bytes`` exceeds the memory available (checked before anything is
        allocated or simulated). Nothing is checked when the available memory
        cannot be determined.
    """
    available = _available_memory()
    if available is None or n_bytes <= available:
        return
    given = ", ".join(f"{name}={value}" for name, value in arguments.items())
    raise ValueError(
        f"{given} would need about {_format_bytes(n_bytes)} ({n_bytes} bytes) of "
        f"memory, more than the {_format_bytes(available)} available; reduce "
        f"{' or '.join(arguments)}."
    )
