"""Build the compiled hot path (Cython) of fastscp, and its dictionary tables.

The extension modules are required: fastscp refuses to import without
them rather than falling back to slow pure-Python code.  The writer's
dictionary tables are generated here from pydicom's dictionaries
(``fastscp.dictdata``), so that starting fastscp imports no pydicom.
"""
import importlib.util
import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def generate_dictionary_tables() -> None:
    # fastscp cannot be imported before it is built: load the one module by its path
    path = os.path.join(HERE, "src", "fastscp", "dictdata.py")
    spec = importlib.util.spec_from_file_location("_fastscp_dictdata", path)
    assert spec is not None and spec.loader is not None
    dictdata = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dictdata)
    dictdata.generate(os.path.join(HERE, "src", "fastscp", dictdata.FILE_NAME))


generate_dictionary_tables()

MODULES = ["_sink", "_dimse", "_pdu", "_pdv", "_writer", "_counters", "_openssl"]
#: _openssl looks up OpenSSL through dlopen/dlsym, in libdl before glibc 2.34
LIBRARIES = {"_openssl": ["dl"] if sys.platform.startswith("linux") else []}

extensions = [
    Extension(f"fastscp.{name}", [f"src/fastscp/{name}.pyx"], extra_compile_args=["-O2"],
              libraries=LIBRARIES.get(name, []))
    for name in MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
    ),
)
