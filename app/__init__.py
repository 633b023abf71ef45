"""jrgr_deploy.app: the `jrgr` command line and the demo, the one layer above the three stages.

`cli` builds the parser from one module per sub-command in `commands`; `stream_command` is what `jrgr derain`
and `jrgr rainify` share; `demo` is the main job (`jrgr demo`, `make demo`). Nothing below this package
imports it (docs/ARCHITECTURE.md, "Layers").
"""
