"""Names of a package that live in submodules imported on first use."""

import importlib

__all__ = ["lazy_attributes"]


def lazy_attributes(package, names, namespace):
    """Module-level ``__getattr__`` and ``__dir__`` for lazily imported names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    names : dict of str to str
        Public name -> relative module that defines it (e.g. ``"._srv"``).
    namespace : dict
        The package's ``globals()``, listed by ``dir()`` with the lazy names.
    """

    def __getattr__(name):
        if name in names:
            return getattr(importlib.import_module(names[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
