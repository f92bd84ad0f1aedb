from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()

# Building the documentation site (mkdocs.yml). Pinned: a strict build's warnings change
# between versions. mkdocs-jupyter 0.27 needs Python 3.12; 0.26.3 is the same plugin
# for older Pythons.
DOCS = [
    "mkdocs==1.6.1",
    "mkdocs-material==9.8.1",
    "mkdocstrings==1.0.8",
    "mkdocstrings-python==2.0.11",
    "mkdocs-jupyter==0.27.0; python_version >= '3.12'",
    "mkdocs-jupyter==0.26.3; python_version < '3.12'",
    # MathJax 3.2.2's files (no dependencies): the site serves its math renderer itself
    "django-static-mathjax==3.2.2.1",
]

# MPI for minigrad.distributed: mpi4py, and a wheel of the MPICH library with mpiexec.
MPI = ["mpi4py>=3.1", "mpich>=4; sys_platform != 'win32'"]

setup(
    name="minigrad",
    version="0.1.0",
    description="A from-scratch reverse-mode autodiff tensor framework for learning how deep learning works",
    long_description=long_description,
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # minigrad and its subpackages, plus the top-level kernels/ folder installed as
    # minigrad.kernels (the kernels live beside the package so that they read as a
    # separate layer; docs/concepts/kernels.md).
    packages=find_packages(include=["minigrad", "minigrad.*"]) + [
        "minigrad.kernels", "minigrad.kernels.reference", "minigrad.kernels.cpu", "minigrad.kernels.cuda",
        "minigrad.kernels.cuda.emulator",
    ],
    package_dir={"minigrad.kernels": "kernels"},
    package_data={
        "minigrad.kernels.cuda": ["*.cu", "*.cuh"],
        "minigrad.kernels.cuda.emulator": ["*.hpp"],
        "minigrad.data": ["embedded/*", "embedded/text/*"],
    },
    install_requires=["numpy>=1.24", "numba>=0.59", "tqdm>=4.60"],
    extras_require={
        "cuda12": ["cupy-cuda12x>=13"],
        "cuda13": ["cupy-cuda13x>=13"],
        "dev": ["pytest>=7", "hypothesis>=6.80", "matplotlib>=3.6", "nbclient>=0.7", "ipykernel>=6"] + DOCS + MPI,
        # data-parallel training across processes (minigrad.distributed): MPI for Python and
        # the MPICH library with its mpiexec (on Windows install MS-MPI instead of mpich)
        "mpi": MPI,
        # the documentation site (mkdocs.yml); tests/project/test_docs_site.py builds it strictly
        "docs": DOCS,
        "notebooks": ["jupyter", "matplotlib>=3.6", "graphviz"],
    },
    entry_points={"console_scripts": ["minigrad=minigrad.__main__:main"]},
)
