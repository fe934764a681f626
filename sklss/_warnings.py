"""Warnings attributed to the user's code.

A warning raised deep inside sklss (or inside scikit-learn calling sklss, as in a
grid search) should point at the line of the user's code that led to it, not at
a line of the library: that is the line a user can act on, and the one Python's
default filter uses to show each warning once.
"""

import contextlib
import inspect
import os
import sysconfig
import warnings

import joblib
import sklearn

import sklss

# Frames in these directories belong to libraries, not to the user: sklss, and
# what calls it on the user's behalf (scikit-learn's model selection, joblib).
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sklss, sklearn, joblib)
)
# The standard library (contextlib, functools, concurrent ...), not its
# site-packages.
_STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep


def _is_library(filename):
    if filename.startswith(_LIBRARY_DIRS):
        return True
    return filename.startswith(_STDLIB) and "site-packages" not in filename


def user_stacklevel():
    """The ``stacklevel`` for a ``warnings.warn`` in the calling function that
    attributes the warning to the first frame outside sklss, scikit-learn,
    joblib and the standard library."""
    frame = inspect.currentframe()
    level = 0
    try:
        frame = frame.f_back  # the function that will call warnings.warn
        while frame is not None:
            filename = os.path.abspath(frame.f_code.co_filename)
            if not _is_library(filename):
                break
            frame = frame.f_back
            level += 1
    finally:
        del frame
    return level + 1


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the user's code (see :func:`user_stacklevel`)."""
    warnings.warn(message, category, stacklevel=user_stacklevel())


@contextlib.contextmanager
def summarised_warnings(owner):
    """Collect the warnings raised inside the block and emit them again at its end,
    at the user's line: one warning per category, listing the distinct messages
    (a fit of several networks says everything once, in one place).

    Also re-emitted when the block raises, so that nothing is lost; the user's
    filters apply at re-emission.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        _emit_grouped(owner, caught)


def _emit_grouped(owner, recorded):
    grouped = {}
    for w in recorded:
        messages = grouped.setdefault(w.category, [])
        if str(w.message) not in messages:
            messages.append(str(w.message))
    for category, messages in grouped.items():
        if len(messages) == 1:
            text = messages[0]
        else:
            text = f"{owner}: {len(messages)} warnings:\n- " + "\n- ".join(messages)
        warnings.warn(text, category, stacklevel=user_stacklevel())
