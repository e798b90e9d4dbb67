"""Build the compiled hot path (Cython) of fastscp.

The extension modules are required: fastscp refuses to import without
them rather than falling back to slow pure-Python code.
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

MODULES = ["_sink", "_dimse", "_pdu", "_pdv", "_writer"]

extensions = [
    Extension(f"fastscp.{name}", [f"src/fastscp/{name}.pyx"], extra_compile_args=["-O2"])
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
