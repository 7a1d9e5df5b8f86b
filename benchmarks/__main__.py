"""``python -m benchmarks [--only kernels] [--repeat 20] [--compare FILE]``; see harness.py."""

from benchmarks.harness import main

raise SystemExit(main())
