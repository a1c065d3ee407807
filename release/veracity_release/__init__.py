"""Release pipeline for the Windows connector: build, package, hash, publish, env.

Each step is one function in its own module; `veracity_release.cli` strings them together so a
maintainer can read the whole release as a checklist (see docs/release.md).
"""
