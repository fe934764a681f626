"""Warnings attributed to the user's code.

A warning raised deep inside sklss (or inside scikit-learn calling sklss, as in a
grid search) should point at the line of the user's code that led to it, not at
a line of the library: that is the line a user can act on, and the one Python's
default filter uses to show each warning once.
"""

import inspect
import os
import warnings

import sklearn

import sklss

# Frames in these directories belong to libraries, not to the user.
_LIBRARY_DIRS = tuple(
    os.path.dirname(os.path.abspath(module.__file__)) + os.sep
    for module in (sklss, sklearn)
)


def user_stacklevel():
    """The ``stacklevel`` that attributes a warning to the first frame outside
    sklss and scikit-learn (counted from the caller of this function's caller)."""
    frame = inspect.currentframe()
    level = 0
    try:
        frame = frame.f_back  # the function that will call warnings.warn
        while frame is not None:
            filename = os.path.abspath(frame.f_code.co_filename)
            if not filename.startswith(_LIBRARY_DIRS):
                break
            frame = frame.f_back
            level += 1
    finally:
        del frame
    return max(level, 1)


def warn(message, category=UserWarning):
    """``warnings.warn`` attributed to the user's code (see :func:`user_stacklevel`)."""
    warnings.warn(message, category, stacklevel=user_stacklevel() + 1)
