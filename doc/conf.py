"""Sphinx configuration for the sklss documentation.

Build with ``python -m sphinx -W -b html doc doc/_build/html`` (see doc/README.md).
Examples in ``examples/`` are executed by sphinx-gallery when
``SKLSS_DOCS_RUN_EXAMPLES=1``; otherwise the gallery shows their code and text only,
which keeps the default build to a minute.
"""

import os
import re

import sklss

project = "sklss"
author = "the sklss developers"
copyright = "2026, the sklss developers"
release = version = sklss.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
# Members inherited from sklss base classes (a featuriser's fit and transform) are
# documented on each class; those of scikit-learn's mixins are not.
autodoc_default_options = {
    "members": True,
    "inherited-members": (
        "BaseEstimator,TransformerMixin,TorchEstimatorMixin,_MetadataRequester,"
        "_SetOutputMixin,BaseCrossValidator,FeatureUnion"
    ),
}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "auto_examples/*.codeobj.json",
]
templates_path = []
html_theme = "pydata_sphinx_theme"
html_title = f"sklss {release}"
html_static_path = []

intersphinx_mapping = {}  # no network at build time

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "sphinx_gallery.sorting.FileNameSortKey",
    "plot_gallery": "True" if os.environ.get("SKLSS_DOCS_RUN_EXAMPLES") else "False",
    "download_all_examples": False,
    "remove_config_comments": True,
}


# scikit-learn generates ``set_{fit,score,...}_request`` on every estimator for
# metadata routing. They are not part of sklss's API, and their docstrings link into
# scikit-learn's own glossary, which does not exist here.
_METADATA_REQUEST = re.compile(r"^set_\w+_request$")


def _skip_metadata_requests(app, what, name, obj, skip, options):
    if _METADATA_REQUEST.match(name):
        return True
    return None


def _plain_glossary_terms(app, env, node, contnode):
    """Methods inherited from scikit-learn (``fit``, ``set_output``...) cite terms
    of scikit-learn's glossary; without it they read as plain words."""
    if node.get("reftype") == "term":
        return contnode
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
    app.connect("missing-reference", _plain_glossary_terms)
